/**
 * What a task's parameters are, in Python's terms, so that a Python call `(args, kwargs)` binds to a
 * TypeScript task as it binds to a Python function (src/bind-args.ts does the binding).
 *
 * Two sources:
 *
 * - **read**: the parameter list of the task's function, parsed with a JavaScript parser (acorn) from
 *   `Function.prototype.toString`. A plain identifier is a positional-or-keyword parameter, one with a
 *   default (`y = 2`) is optional, a rest parameter (`...rest`) takes the extra positionals (`*args`).
 *   JavaScript has no keyword-only or `**kwargs` parameters, so a read list has none. TypeScript's
 *   optional parameters (`y?: number`) do not exist at run time: they read as required (declare
 *   `'y='` to make them optional).
 * - **declared**: the task's `params` option, written as Python writes a signature (see
 *   {@link parseParams}).
 *
 * A list that cannot be read reliably is refused at registration with a {@link ConfigurationError}
 * that names the task and shows how to declare the parameters:
 *
 * - destructuring patterns (`({ x, y }) => ...`, `([a, b]) => ...`), except for the `self` of a bound
 *   task, which the worker passes positionally whatever its form;
 * - native and bound functions (their source is `[native code]`), classes, anything acorn cannot parse;
 * - a required parameter after one with a default (`(x = 1, y) => ...`: Python has no such signature);
 * - a body that reads `arguments` (the list is then not all the function takes; also what compilers
 *   emit for rest parameters and defaults when targeting ES5), and parameters named as compilers name a
 *   destructured parameter (`_a` to `_f`, `_ref`, `_ref2`, …);
 * - bundled code: references to a bundler's module system (`__webpack_require__`,
 *   `…__WEBPACK_IMPORTED_MODULE_0__`, `__vite_ssr_import_…`);
 * - minified code, where a minifier has renamed the parameters. The heuristic, conservative because
 *   tsx itself prints every function on one line without spaces (`(x,y)=>x+y`), keeping the names:
 *   the source must be *machine-printed* (one line, no optional whitespace or comment between any two
 *   tokens) **and** its names must look mangled, that is either
 *   (a) it has two or more parameters and the first two are `e`, `t` (how terser, esbuild and swc name
 *       parameters; the `self` of a bound task counts), or
 *   (b) every name it binds (parameters, variables, functions, catch and loop bindings) has one or two
 *       characters and it refers to at least two distinct free names of one or two characters other
 *       than `_` and `$` (a bundle's renamed module-level functions; hand-written code calls its
 *       helpers and imports by their names).
 *   So `(x,y)=>x+y` and `(a,b,c)=>{const d=a+b;return d*c}` read, `(e,t)=>e+t` printed that way does
 *   not, and a minified function outside both rules reads its (renamed) names: keyword calls then fail
 *   loudly with "unexpected keyword argument", positional calls bind as they should.
 *
 * - a machine-printed function with a parameter named as esbuild renames one (`b2`, `b3`, ...): tsx
 *   (esbuild) renames a parameter that has the name of a top-level variable of its module, so the name
 *   Python callers use is gone; a parameter really named `x2` in a tsx-loaded module is refused too
 *   (declare the parameters, or rename).
 *
 * Functions made with `new Function('x', 'y = 2', body)` read: their source is the list given.
 *
 * No I/O, nothing from src/app.ts: a pure module.
 */
import { parse, type Node as AcornNode, type Options as AcornOptions, type Token } from 'acorn';
import { ConfigurationError } from './errors.ts';

/** A positional-or-keyword or a keyword-only parameter. */
export interface Param {
  name: string;
  /** It has a default (Python `y=…`, JavaScript `y = …`): a call may leave it out. */
  optional: boolean;
}

/** A task's parameters, as Python's signature of the task's function has them. */
export interface TaskParams {
  /** Positional-or-keyword parameters, in order (without the `self` of a bound task). */
  positional: Param[];
  /** `*args`: the JavaScript rest parameter; null when extra positionals are an error. */
  varargs: string | null;
  /** Keyword-only parameters (declared only). */
  keywordOnly: Param[];
  /** `**kwargs`: the catch-all for unknown keywords (declared only); null when they are an error. */
  varkw: string | null;
  source: 'read' | 'declared';
  /**
   * The name of a bound task's `self` parameter: a keyword argument of that name is Python's "got
   * multiple values for argument 'self'". Undefined means `'self'`; null means the function has no
   * named `self` (it is destructured, swallowed by a rest parameter, or absent), so such a keyword is
   * an ordinary unknown keyword. Ignored for unbound tasks.
   */
  self?: string | null;
  /**
   * How Python's function differs from what the task name and `bind` say, for tasks whose Python
   * function is known (Celery's built-ins): `funcName`, the name its TypeError texts show (`celery.map`
   * is `xmap`); `unbound`, the function takes no `self` though the TypeScript implementation is bound
   * (it then is not counted, and a keyword `self` is an ordinary one).
   */
  python?: { funcName?: string; unbound?: boolean };
}

type AnyFunction = (...args: never[]) => unknown;

const EXAMPLE = "['x', 'y=']";

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function unreadable(task: string, why: string, cause?: unknown): ConfigurationError {
  return new ConfigurationError(
    `task ${task}: cannot read the parameters of its function (${why}); declare them: ` +
      `app.task(${quote(task)}, fn, { params: ${EXAMPLE} }), as Python writes a signature ('y=' optional, '*args', '**kwargs')`,
    cause === undefined ? undefined : { cause },
  );
}

// ---------------------------------------------------------------------------------------------------
// Reading a function's parameter list

interface Parsed {
  fn: FunctionNode;
  /** The wrapped source the node's offsets refer to, and where the function's own text starts. */
  text: string;
  offset: number;
  tokens: Token[];
}

interface FunctionNode extends AcornNode {
  type: 'FunctionExpression' | 'ArrowFunctionExpression';
  params: PatternNode[];
  body: AcornNode;
}

interface PatternNode extends AcornNode {
  name?: string;
  left?: PatternNode;
  argument?: PatternNode;
}

const ACORN: AcornOptions = { ecmaVersion: 'latest', sourceType: 'script', allowAwaitOutsideFunction: false };

/** Parses `src` as a function expression, an object method (`add(x) {}`) or a class method (`#m(x) {}`). */
function parseFunction(src: string): Parsed | { error: unknown } {
  const forms: [string, string, (program: AcornNode) => AcornNode | undefined][] = [
    ['(', '\n)', (p) => expressionOf(p)],
    ['({', '\n})', (p) => {
      const obj = expressionOf(p) as (AcornNode & { properties?: (AcornNode & { value?: AcornNode })[] }) | undefined;
      return obj?.type === 'ObjectExpression' && obj.properties?.length === 1 ? obj.properties[0]!.value : undefined;
    }],
    ['(class{', '\n})', (p) => {
      const cls = expressionOf(p) as (AcornNode & { body?: { body: (AcornNode & { value?: AcornNode })[] } }) | undefined;
      return cls?.type === 'ClassExpression' && cls.body?.body.length === 1 ? cls.body.body[0]!.value : undefined;
    }],
  ];
  let firstError: unknown;
  for (const [open, close, pick] of forms) {
    const text = open + src + close;
    const tokens: Token[] = [];
    let program: AcornNode;
    try {
      program = parse(text, { ...ACORN, onToken: tokens });
    } catch (err) {
      firstError ??= err;
      continue;
    }
    const node = pick(program);
    if (node && (node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression')) {
      // the function must be the whole text (an object method's value starts at its parameter list)
      if (node.end === open.length + src.length) return { fn: node as FunctionNode, text, offset: open.length, tokens };
    }
    firstError ??= new Error('not a single function');
  }
  return { error: firstError };
}

function expressionOf(program: AcornNode): AcornNode | undefined {
  const body = (program as AcornNode & { body: (AcornNode & { expression?: AcornNode })[] }).body;
  return body.length === 1 && body[0]!.type === 'ExpressionStatement' ? body[0]!.expression : undefined;
}

/** Visits every node under `node` (not `node` itself), with its parent and the key it hangs on. */
function walk(node: AcornNode, visit: (child: AcornNode, parent: AcornNode, key: string) => boolean | void): void {
  for (const key of Object.keys(node)) {
    if (key === 'type' || key === 'start' || key === 'end' || key === 'loc' || key === 'range') continue;
    const value = (node as unknown as Record<string, unknown>)[key];
    const children = Array.isArray(value) ? value : [value];
    for (const child of children) {
      if (child === null || typeof child !== 'object' || typeof (child as AcornNode).type !== 'string') continue;
      if (visit(child as AcornNode, node, key) === false) continue;
      walk(child as AcornNode, visit);
    }
  }
}

/** The identifiers a binding pattern declares. */
function patternNames(pattern: AcornNode, out: string[] = []): string[] {
  const p = pattern as AcornNode & Record<string, unknown>;
  switch (p.type) {
    case 'Identifier': out.push(p['name'] as string); break;
    case 'AssignmentPattern': patternNames(p['left'] as AcornNode, out); break;
    case 'RestElement': patternNames(p['argument'] as AcornNode, out); break;
    case 'ArrayPattern': for (const e of p['elements'] as (AcornNode | null)[]) if (e) patternNames(e, out); break;
    case 'ObjectPattern':
      for (const prop of p['properties'] as (AcornNode & Record<string, unknown>)[]) {
        patternNames(prop.type === 'RestElement' ? prop : (prop['value'] as AcornNode), out);
      }
      break;
    default: break; // MemberExpression targets (`[a.b] = …`) bind nothing
  }
  return out;
}

interface Names {
  /** Names bound anywhere in the function (parameters, declarations, catch/loop bindings). */
  bound: Set<string>;
  /** Identifiers read or written that are not bound in the function. */
  free: Set<string>;
  /** The function (not a nested non-arrow function) reads `arguments`. */
  readsArguments: boolean;
}

/** A rough scope analysis of a function, enough for the heuristics (scopes are not told apart). */
function names(fn: FunctionNode): Names {
  const bound = new Set<string>();
  const used = new Set<string>();
  const ownArguments = new Set<AcornNode>();
  const markPattern = (pattern: AcornNode) => {
    for (const n of patternNames(pattern)) bound.add(n);
  };
  for (const p of fn.params) markPattern(p);
  // identifiers that are `arguments` of the function itself: not inside a nested non-arrow function
  const collectArguments = (node: AcornNode) => {
    walk(node, (c) => {
      if (c.type === 'FunctionExpression' || c.type === 'FunctionDeclaration') return false;
      if (c.type === 'Identifier' && (c as PatternNode).name === 'arguments') ownArguments.add(c);
      return undefined;
    });
  };
  collectArguments(fn);
  walk(fn, (c, parent, key) => {
    const n = c as AcornNode & Record<string, unknown>;
    switch (n.type) {
      case 'VariableDeclarator': markPattern(n['id'] as AcornNode); break;
      case 'FunctionDeclaration': case 'FunctionExpression': case 'ArrowFunctionExpression':
        if (n['id']) markPattern(n['id'] as AcornNode);
        for (const p of n['params'] as AcornNode[]) markPattern(p);
        break;
      case 'ClassDeclaration': case 'ClassExpression': if (n['id']) markPattern(n['id'] as AcornNode); break;
      case 'CatchClause': if (n['param']) markPattern(n['param'] as AcornNode); break;
      case 'Identifier': {
        // property names, labels and meta properties are not references
        if ((parent.type === 'MemberExpression' && key === 'property' && !(parent as AcornNode & { computed: boolean }).computed) ||
          ((parent.type === 'Property' || parent.type === 'MethodDefinition' || parent.type === 'PropertyDefinition') && key === 'key' &&
            !(parent as AcornNode & { computed: boolean }).computed) ||
          parent.type === 'LabeledStatement' || parent.type === 'BreakStatement' || parent.type === 'ContinueStatement' ||
          parent.type === 'MetaProperty' || parent.type === 'ExportSpecifier') break;
        used.add(n['name'] as string);
        break;
      }
      default: break;
    }
  });
  const free = new Set([...used].filter((n) => !bound.has(n) && n !== 'arguments'));
  return { bound, free, readsArguments: ownArguments.size > 0 };
}

const IDENT_CHAR = /[\p{ID_Continue}$\u200c\u200d\\]/u;

/** One line, and no whitespace or comment between two tokens where none is needed: as minifiers (and tsx) print. */
function machinePrinted(parsed: Parsed): boolean {
  const { text, offset, fn, tokens } = parsed;
  const end = fn.end;
  if (text.slice(offset, end).includes('\n')) return false;
  const own = tokens.filter((t) => t.start >= offset && t.end <= end);
  for (let i = 0; i + 1 < own.length; i++) {
    const a = own[i]!;
    const b = own[i + 1]!;
    if (b.start === a.end) continue;
    const needed = IDENT_CHAR.test(text[a.end - 1] ?? '') && IDENT_CHAR.test(text[b.start] ?? '');
    if (!needed || text.slice(a.end, b.start) !== ' ') return false;
  }
  return true;
}

const BUNDLER = /^__webpack_|__WEBPACK_|^__vite_ssr_/;
const COMPILER_PARAM = /^(?:_[a-f]|_ref\d*)$/;
/** esbuild's renaming suffix: the name, then a number from 2. */
const ESBUILD_RENAMED = /^([A-Za-z_$](?:[\w$]*[A-Za-z_$])?)([2-9]|[1-9]\d+)$/;

/** Why `fn`'s parameter list cannot be read reliably, or null. */
function heuristics(parsed: Parsed, jsParams: string[]): string | null {
  const { fn } = parsed;
  const info = names(fn);
  if (info.readsArguments) return 'its body reads `arguments`, so its parameter list is not all it takes';
  const compiled = jsParams.find((n) => COMPILER_PARAM.test(n));
  if (compiled !== undefined) return `compiled code: parameter ${compiled} is named as a compiler names a destructured parameter`;
  const bundler = [...info.free].find((n) => BUNDLER.test(n));
  if (bundler !== undefined) return `bundled code: it refers to ${bundler}`;
  if (machinePrinted(parsed)) {
    // esbuild (tsx) renames a nested name that a top-level name of its module also has: `b` becomes
    // `b2`, `b3`, ... (with `const b` at the top, `(a, b) => ...` prints as `(a,b2)=>a*b2`); the name
    // Python callers use is then lost, so the list cannot be read reliably
    const renamed = jsParams.find((n) => ESBUILD_RENAMED.test(n));
    if (renamed !== undefined) {
      const base = ESBUILD_RENAMED.exec(renamed)![1]!;
      return `parameter ${renamed} may be esbuild's rename of ${base} (tsx renames a parameter named like a top-level variable of its module; rename one of them)`;
    }
    if (jsParams.length >= 2 && jsParams[0] === 'e' && jsParams[1] === 't') {
      return 'minified code: its parameters are named e, t, … as a minifier names them';
    }
    const shortFree = [...info.free].filter((n) => n.length <= 2 && n !== '_' && n !== '$');
    if (info.bound.size > 0 && [...info.bound].every((n) => n.length <= 2) && shortFree.length >= 2) {
      return `minified code: every name it binds is one or two characters and it refers to ${shortFree.slice(0, 4).join(', ')}`;
    }
  }
  return null;
}

/**
 * Reads a plain function's parameter list with acorn. With `bind`, the first JavaScript parameter is
 * the task's `self` (any form: the worker passes it positionally) and is not one of `positional`.
 * Throws {@link ConfigurationError} naming the task and showing how to declare the parameters when the
 * list cannot be read reliably (see the module comment).
 */
export function readParams(fn: AnyFunction, options: { task: string; bind: boolean }): TaskParams {
  const { task, bind } = options;
  if (typeof fn !== 'function') throw new ConfigurationError(`task ${task}: its implementation is not a function`);
  let src: string;
  try {
    src = Function.prototype.toString.call(fn);
  } catch (err) {
    throw unreadable(task, 'its source is not available', err);
  }
  if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) throw unreadable(task, 'a native or bound function');
  if (/^class\b/.test(src)) throw unreadable(task, 'a class');
  const parsed = parseFunction(src);
  if ('error' in parsed) {
    const msg = parsed.error instanceof Error ? parsed.error.message : String(parsed.error);
    throw unreadable(task, `acorn cannot parse its source: ${msg}`, parsed.error);
  }
  let params = parsed.fn.params;
  let self: string | null | undefined;
  if (bind) {
    const first = params[0];
    if (first === undefined || first.type === 'RestElement') self = null; // `self` unnamed or in `...args`
    else {
      self = first.type === 'Identifier' ? first.name! : first.type === 'AssignmentPattern' && first.left?.type === 'Identifier' ? first.left.name! : null;
      params = params.slice(1);
    }
  }
  const jsNames: string[] = [];
  for (const p of parsed.fn.params) {
    const id = p.type === 'AssignmentPattern' ? p.left : p.type === 'RestElement' ? p.argument : p;
    if (id?.type === 'Identifier') jsNames.push(id.name!);
  }
  const positional: Param[] = [];
  let varargs: string | null = null;
  for (const p of params) {
    if (p.type === 'Identifier') positional.push({ name: p.name!, optional: false });
    else if (p.type === 'AssignmentPattern' && p.left?.type === 'Identifier') positional.push({ name: p.left.name!, optional: true });
    else if (p.type === 'RestElement' && p.argument?.type === 'Identifier') varargs = p.argument.name!;
    else throw unreadable(task, 'a destructuring pattern');
  }
  const firstOptional = positional.findIndex((p) => p.optional);
  const late = firstOptional < 0 ? undefined : positional.slice(firstOptional).find((p) => !p.optional);
  if (late) {
    throw unreadable(task, `parameter ${late.name}, without a default, follows ${positional[firstOptional]!.name}, which has one: Python has no such signature`);
  }
  const why = heuristics(parsed, jsNames);
  if (why !== null) throw unreadable(task, why);
  const result: TaskParams = { positional, varargs, keywordOnly: [], varkw: null, source: 'read' };
  if (bind) result.self = self ?? null;
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Declarations

const NAME = /^[\p{ID_Start}_$][\p{ID_Continue}$\u200c\u200d]*$/u;
const DECLARATION_EXAMPLE = "['x', 'y=', '*args', 'k', 'k2=', '**kwargs']";

/**
 * Parses a declaration as Python writes a signature, as a list (`['x', 'y=', '*args', 'k', 'k2=',
 * '**kwargs']`) or one string (`'x, y=, *args, k, k2=, **kwargs'`): `name` a required parameter,
 * `name=` an optional one (its default is the function's own, so nothing follows `=`), `*args` the
 * extra positionals, `*` alone starts keyword-only parameters without taking extra positionals,
 * `**kwargs` the unknown keywords. Python's rules apply: no required positional parameter after an
 * optional one, one `*args` or `*`, keyword-only parameters after a bare `*`, `**kwargs` last, no name
 * twice. Names are JavaScript or Python identifiers. Throws {@link ConfigurationError} naming the task.
 */
export function parseParams(declaration: string | readonly string[], options: { task: string }): TaskParams {
  const { task } = options;
  const fail = (why: string) =>
    new ConfigurationError(`task ${task}: params: ${why} (e.g. ${DECLARATION_EXAMPLE}, or the same as one string)`);
  let items: string[];
  if (typeof declaration === 'string') items = declaration.trim() === '' ? [] : declaration.split(',');
  else if (Array.isArray(declaration)) items = [...(declaration as readonly unknown[])].map((d) => {
    if (typeof d !== 'string') throw fail(`expected strings, got ${d === null ? 'null' : typeof d}`);
    return d;
  });
  else throw fail(`expected a list of strings or a string, got ${declaration === null ? 'null' : typeof declaration}`);

  const result: TaskParams = { positional: [], varargs: null, keywordOnly: [], varkw: null, source: 'declared' };
  const seen = new Set<string>();
  let star = false; // `*args` or `*` seen: what follows is keyword-only
  let bareStar = false;
  const checkName = (name: string, item: string) => {
    if (!NAME.test(name)) throw fail(`${quote(item)} is not a parameter (a name, 'name=', '*args', '*' or '**kwargs')`);
    if (seen.has(name)) throw fail(`duplicate parameter ${quote(name)}`);
    seen.add(name);
  };
  for (const raw of items) {
    const item = raw.trim();
    if (result.varkw !== null) throw fail(`${quote(item)} follows '**${result.varkw}', which must be last`);
    if (item === '') throw fail('an empty parameter');
    if (item === '/') throw fail("positional-only parameters ('/') are not supported");
    if (item.startsWith('**')) {
      const name = item.slice(2).trim();
      if (name.includes('=')) throw fail(`${quote(item)}: '**kwargs' takes no default`);
      if (bareStar && result.keywordOnly.length === 0) throw fail("a bare '*' must be followed by a keyword-only parameter");
      checkName(name, item);
      result.varkw = name;
      continue;
    }
    if (item.startsWith('*')) {
      if (star) throw fail(`${quote(item)}: only one '*args' or '*'`);
      star = true;
      const name = item.slice(1).trim();
      if (name === '') {
        bareStar = true;
        continue;
      }
      if (name.includes('=')) throw fail(`${quote(item)}: '*args' takes no default`);
      checkName(name, item);
      result.varargs = name;
      continue;
    }
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).trim();
    if (eq >= 0 && item.slice(eq + 1).trim() !== '') {
      throw fail(`${quote(item)}: write ${quote(`${name}=`)} (the default value is the function's own)`);
    }
    checkName(name, item);
    const param: Param = { name, optional: eq >= 0 };
    if (star) result.keywordOnly.push(param);
    else {
      const last = result.positional[result.positional.length - 1];
      if (!param.optional && last?.optional) {
        throw fail(`required parameter ${quote(name)} follows optional ${quote(`${last.name}=`)}, as Python does not allow`);
      }
      result.positional.push(param);
    }
  }
  if (bareStar && result.keywordOnly.length === 0) throw fail("a bare '*' must be followed by a keyword-only parameter");
  return result;
}

/**
 * The task's parameters: the declaration when given (then `fn` is not read; a bound task's `self` is
 * taken to be named `self`), else read from `fn`.
 */
export function taskParams(
  fn: AnyFunction,
  options: { task: string; bind: boolean; declared?: string | readonly string[] | undefined },
): TaskParams {
  if (options.declared === undefined) return readParams(fn, options);
  const params = parseParams(options.declared, { task: options.task });
  if (options.bind) {
    const names = [...params.positional, ...params.keywordOnly].map((p) => p.name);
    if (params.varargs !== null) names.push(params.varargs);
    if (params.varkw !== null) names.push(params.varkw);
    if (names.includes('self')) {
      throw new ConfigurationError(`task ${options.task}: params: a bound task's 'self' is not declared (its first parameter is the task itself); duplicate parameter 'self'`);
    }
    params.self = 'self';
  }
  return params;
}

/** The parameters as a declaration string, e.g. `x, y=, *args, k, k2=, **kwargs` (parses back with {@link parseParams}). */
export function formatParams(params: TaskParams): string {
  const parts = params.positional.map((p) => (p.optional ? `${p.name}=` : p.name));
  if (params.varargs !== null) parts.push(`*${params.varargs}`);
  else if (params.keywordOnly.length > 0) parts.push('*');
  for (const p of params.keywordOnly) parts.push(p.optional ? `${p.name}=` : p.name);
  if (params.varkw !== null) parts.push(`**${params.varkw}`);
  return parts.join(', ');
}
