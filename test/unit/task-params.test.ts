/**
 * src/task-params.ts: reading a task function's parameter list (the forms people write, under tsx,
 * which prints every function on one line without spaces, and as plain JavaScript), what is refused
 * with the declaration hint (destructuring, native and bound functions, bundled, compiled and minified
 * code), declarations (valid and invalid), and how a bound call reaches the function read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatParams, parseParams, readParams, taskParams, type TaskParams } from '../../src/task-params.ts';
import { bindArguments } from '../../src/bind-args.ts';
import { ConfigurationError } from '../../src/errors.ts';

type Fn = (...args: never[]) => unknown;

/** The declaration form of what `fn` reads as (unbound). */
function read(fn: unknown, bind = false): string {
  return formatParams(readParams(fn as Fn, { task: 'proj.add', bind }));
}

/** A function from plain JavaScript source, as written (not through tsx). */
function js(source: string): Fn {
  return new Function(`return (${source}\n)`)() as Fn;
}

const HINT = "declare them: app.task('proj.add', fn, { params: ['x', 'y='] }), as Python writes a signature ('y=' optional, '*args', '**kwargs')";

function refused(fn: unknown, why: string | RegExp, bind = false): void {
  assert.throws(() => readParams(fn as Fn, { task: 'proj.add', bind }), (err: unknown) => {
    assert.ok(err instanceof ConfigurationError, String(err));
    assert.ok(err.message.startsWith('task proj.add: cannot read the parameters of its function ('), err.message);
    assert.ok(err.message.endsWith(`); ${HINT}`), err.message);
    const reason = err.message.slice('task proj.add: cannot read the parameters of its function ('.length, -`); ${HINT}`.length);
    if (typeof why === 'string') assert.equal(reason, why);
    else assert.match(reason, why);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------
// Reading

test('arrow functions, with and without parentheses, async', () => {
  assert.equal(read((x: number, y: number) => x + y), 'x, y');
  assert.equal(read((x: number) => x), 'x');
  assert.equal(read(js('x => x * 2')), 'x');
  assert.equal(read(async (x: number, y: number) => x + y), 'x, y');
  assert.equal(read(js('async x => x')), 'x');
  assert.equal(read(() => 1), '');
  assert.deepEqual(readParams(((x: number, y = 2) => x + y) as Fn, { task: 't', bind: false }), {
    positional: [{ name: 'x', optional: false }, { name: 'y', optional: true }], varargs: null, keywordOnly: [], varkw: null, source: 'read',
  });
});

test('function declarations and expressions, async, generators', () => {
  function add(x: number, y: number) { return x + y; }
  async function fetchIt(url: string, retries = 3) { return [url, retries]; }
  function* gen(n: number) { yield n; }
  async function* agen(n: number, m = 1) { yield n + m; }
  assert.equal(read(add), 'x, y');
  assert.equal(read(fetchIt), 'url, retries=');
  assert.equal(read(gen), 'n');
  assert.equal(read(agen), 'n, m=');
  assert.equal(read(function (a: number) { return a; }), 'a');
  assert.equal(read(js('function named (a, b) { return a + b }')), 'a, b');
  assert.equal(read(js('async function* g(a) {}')), 'a');
});

test('object methods, class methods (instance, static, private, getter), class field arrows', () => {
  const obj = {
    add(x: number, y: number) { return x + y; },
    async fetch(url: string) { return url; },
    *items(n: number) { yield n; },
    async *stream(n: number, step = 1) { yield n + step; },
    ['computed' + 'Name'](a: number) { return a; },
    get value() { return 1; },
  };
  assert.equal(read(obj.add), 'x, y');
  assert.equal(read(obj.fetch), 'url');
  assert.equal(read(obj.items), 'n');
  assert.equal(read(obj.stream), 'n, step=');
  assert.equal(read((obj as unknown as Record<string, Fn>)['computedName']), 'a');
  assert.equal(read(Object.getOwnPropertyDescriptor(obj, 'value')!.get), '');
  class Tasks {
    field = (p: number, q = 2) => p + q;
    run(x: number, y: number) { return x + y; }
    static make(kind: string, size = 1) { return [kind, size]; }
    async go(n: number) { return n; }
    #secret(a: number, b: number) { return a + b; }
    static secretOf(t: Tasks) { return t.#secret; }
  }
  assert.equal(read(new Tasks().field), 'p, q=');
  assert.equal(read(Tasks.prototype.run), 'x, y');
  assert.equal(read(Tasks.make), 'kind, size=');
  assert.equal(read(Tasks.prototype.go), 'n');
  assert.equal(read(Tasks.secretOf(new Tasks())), 'a, b');
  assert.equal(read(js('{ m(a, b = 1) { return a + b } }.m')), 'a, b=');
  assert.equal(read(js('{ async *m(a) {} }.m')), 'a');
  assert.equal(read(js('class { static m(a, b) {} }.m')), 'a, b');
});

test('defaults holding commas, parentheses, strings, template literals, regular expressions, objects and nested functions', () => {
  const helper = (a: number, b: number) => a + b;
  assert.equal(read((x: number, y = helper(1, 2), z = 'a,(b)', w = `c,${'d'})`, v = { a: [1, 2], b: ')' }, u = /[,)]/g, t = (p: number, q: number) => p * q) =>
    [x, y, z, w, v, u, t]), 'x, y=, z=, w=, v=, u=, t=');
  assert.equal(read(js("(x, y = fn(1, 2), z = 'a,(b)', w = `c,${'d'})`, v = { a: [1, 2] }, u = /[,)]/g, t = function (p, q) { return p }) => x")),
    'x, y=, z=, w=, v=, u=, t=');
  assert.equal(read(js('(x /* a, b) */, y // c, d)\n) => x')), 'x, y');
  assert.equal(read(js('function (x, y = (1, 2)) { return (function inner(a, b, c) { return arguments })(x) }')), 'x, y=');
});

test('rest parameters are *args', () => {
  assert.equal(read((...items: number[]) => items.length), '*items');
  assert.equal(read((x: number, y = 1, ...rest: number[]) => [x, y, rest]), 'x, y=, *rest');
  assert.equal(read(js('function (a, ...more) {}')), 'a, *more');
});

test('TypeScript optional parameters vanish at run time: they read as required (declare them to make them optional)', () => {
  const fn = (x: number, y?: number) => x + (y ?? 0);
  assert.equal(read(fn), 'x, y');
  assert.equal(formatParams(taskParams(fn as Fn, { task: 'proj.add', bind: false, declared: ['x', 'y='] })), 'x, y=');
});

test('bound tasks: the first parameter is self, in any form, and is not a positional parameter', () => {
  const r = (fn: unknown) => readParams(fn as Fn, { task: 'proj.add', bind: true });
  assert.deepEqual(r((self: unknown, x: number, y: number) => [self, x, y]), {
    positional: [{ name: 'x', optional: false }, { name: 'y', optional: false }], varargs: null, keywordOnly: [], varkw: null, source: 'read', self: 'self',
  });
  assert.equal(r((task: unknown, x: number) => [task, x]).self, 'task');
  assert.equal(formatParams(r((task: unknown, x: number) => [task, x])), 'x');
  // destructuring `self` is fine: the worker passes it positionally
  const destructured = r(({ request }: { request: unknown }, day: string) => [request, day]);
  assert.equal(destructured.self, null);
  assert.equal(formatParams(destructured), 'day');
  // `self` inside a rest parameter, or a function that ignores it
  const rest = r((...all: unknown[]) => all);
  assert.equal(formatParams(rest), '*all');
  assert.equal(rest.self, null);
  assert.equal(formatParams(r(() => 1)), '');
  assert.equal(r(() => 1).self, null);
  // a destructured parameter after self is still refused
  refused((self: unknown, { x }: { x: number }) => [self, x], 'a destructuring pattern', true);
});

test('functions made with new Function read: their source is the list given', () => {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  assert.equal(read(new Function('x', 'y = 2', 'return x + y')), 'x, y=');
  assert.equal(read(new Function('a, b', '...c', 'return a')), 'a, b, *c');
  assert.equal(read(new Function('return 1')), '');
});

// ---------------------------------------------------------------------------------------------------
// Refused

test('destructuring patterns are refused with the declaration hint', () => {
  refused(({ x, y }: { x: number; y: number }) => x + y, 'a destructuring pattern');
  refused(([a, b]: number[]) => a! + b!, 'a destructuring pattern');
  refused(({ a }: { a?: number } = {}) => a, 'a destructuring pattern');
  refused(js('(x, ...[a, b]) => x'), 'a destructuring pattern');
  assert.throws(() => readParams((({ x }: { x: number }) => x) as Fn, { task: 'proj.add', bind: false }), {
    name: 'ConfigurationError',
    message: "task proj.add: cannot read the parameters of its function (a destructuring pattern); declare them: " +
      "app.task('proj.add', fn, { params: ['x', 'y='] }), as Python writes a signature ('y=' optional, '*args', '**kwargs')",
  });
});

test('native functions, bound functions, proxies, classes and non-functions are refused', () => {
  refused(Math.max, 'a native or bound function');
  refused(((x: number, y: number) => x + y).bind(null), 'a native or bound function');
  refused(function add(x: number) { return x; }.bind(null, 1), 'a native or bound function');
  refused(new Proxy((x: number) => x, {}), 'a native or bound function');
  refused(class Add { run(x: number) { return x; } }, 'a class');
  assert.throws(() => readParams(42 as unknown as Fn, { task: 'proj.add', bind: false }), {
    name: 'ConfigurationError', message: 'task proj.add: its implementation is not a function',
  });
});

test('a required parameter after one with a default is refused (Python has no such signature)', () => {
  refused((x = 1, y: number) => x + y, 'parameter y, without a default, follows x, which has one: Python has no such signature');
});

test('a body that reads `arguments` is refused (also what ES5 compilers emit for rest parameters and defaults)', () => {
  refused(function (x: number) { return arguments.length + x; }, 'its body reads `arguments`, so its parameter list is not all it takes');
  // TypeScript's ES5 rest parameter, Babel's ES5 default
  refused(js('function () { var args = []; for (var _i = 0; _i < arguments.length; _i++) { args[_i] = arguments[_i]; } return args; }'), /reads `arguments`/);
  refused(js('function (x) { var y = arguments.length > 1 && arguments[1] !== undefined ? arguments[1] : 2; return x + y; }'), /reads `arguments`/);
  // `arguments` of a nested function is its own
  assert.equal(read(js('(x) => { function inner() { return arguments.length } return inner(x) }')), 'x');
});

test('compiled and bundled code is refused', () => {
  // TypeScript's and Babel's names for a destructured parameter compiled to ES5
  refused(js('function (_a) { var x = _a.x, y = _a.y; return x + y; }'), 'compiled code: parameter _a is named as a compiler names a destructured parameter');
  refused(js('function (_ref) { var x = _ref.x; return x; }'), /compiled code: parameter _ref /);
  refused(js('function (_ref2, y) { return _ref2.x + y; }'), /compiled code: parameter _ref2 /);
  // webpack's and Vite's module references
  refused(js('function (url) { return (0,_lib_http__WEBPACK_IMPORTED_MODULE_0__.get)(url); }'), /^bundled code: it refers to _lib_http__WEBPACK_IMPORTED_MODULE_0__$/);
  refused(js('function (url) { const m = __webpack_require__(12); return m.get(url); }'), 'bundled code: it refers to __webpack_require__');
  refused(js('async (url) => { return __vite_ssr_import_0__.get(url) }'), 'bundled code: it refers to __vite_ssr_import_0__');
});

test('minified code is refused; hand-written and tsx-printed code reads', () => {
  const eT = 'minified code: its parameters are named e, t, … as a minifier names them';
  // terser / esbuild --minify output
  refused(js('(e,t)=>e+t'), eT);
  refused(js('async(e,t,n)=>{const r=await i.get(e);return o(r,t,n)}'), eT);
  refused(js('function(e,t){return e*t}'), eT);
  refused(js('(r,s)=>{const i=o(r);return a(i,s)}'), 'minified code: every name it binds is one or two characters and it refers to o, a');
  refused(js('async function(n){try{return await Ae(n)}catch(r){return Fe(r)}}'), /^minified code: every name it binds is one or two characters and it refers to Ae, Fe$/);
  // a bound task's self counts: minified `(e,t)=>...` with bind
  refused(js('(e,t)=>e.request.id+t'), eT, true);
  // hand-written code printed by tsx (one line, no spaces) keeps its names
  assert.equal(read((x: number, y: number) => x + y), 'x, y');
  assert.equal(read(js('(x,y)=>x+y')), 'x, y');
  assert.equal(read(js('(a,b,c)=>{const d=a+b;return d*c}')), 'a, b, c');
  assert.equal(read(js('(x)=>db.get(x)')), 'x');
  assert.equal(read(js('(x,y)=>_.sum([x,y])+$(y)')), 'x, y');
  assert.equal(read(js('(id,row)=>{const r=db.get(id);return fs.put(r,row)}')), 'id, row');
  // `e, t` written by hand with spaces (not machine-printed) reads
  assert.equal(read(js('(e, t) => e + t')), 'e, t');
  assert.equal(read(js('(e,t) => e+t')), 'e, t');
  // a minified function outside both rules reads its renamed names (keyword calls then fail loudly)
  assert.equal(read(js('(n)=>n*2')), 'n');
});

test('a parameter esbuild (tsx) renamed is refused: the name Python callers use is gone', () => {
  // with `const b = ...` at the top of a .ts module, tsx prints `(a, b) => a * b` as `(a,b2)=>a*b2`
  refused(js('(a,b2)=>a*b2'), /^parameter b2 may be esbuild's rename of b \(tsx renames a parameter named like a top-level variable of its module/);
  refused(js('async(self,user3)=>user3.id'), /^parameter user3 may be esbuild's rename of user/, true);
  // hand-written (not machine-printed), and names esbuild does not produce, read
  assert.equal(read(js('(a, b2) => a * b2')), 'a, b2');
  assert.equal(read(js('(x1,y1)=>x1+y1')), 'x1, y1');
});

// ---------------------------------------------------------------------------------------------------
// Declarations

function parsed(declaration: string | readonly string[]): TaskParams {
  return parseParams(declaration, { task: 'proj.add' });
}

function invalid(declaration: unknown, why: string): void {
  assert.throws(() => parseParams(declaration as string, { task: 'proj.add' }), (err: unknown) => {
    assert.ok(err instanceof ConfigurationError, String(err));
    assert.equal(err.message, `task proj.add: params: ${why} (e.g. ['x', 'y=', '*args', 'k', 'k2=', '**kwargs'], or the same as one string)`);
    return true;
  });
}

test('declarations: a list or one string, as Python writes a signature', () => {
  const full: TaskParams = {
    positional: [{ name: 'x', optional: false }, { name: 'y', optional: true }],
    varargs: 'args',
    keywordOnly: [{ name: 'k', optional: false }, { name: 'k2', optional: true }],
    varkw: 'kwargs',
    source: 'declared',
  };
  assert.deepEqual(parsed(['x', 'y=', '*args', 'k', 'k2=', '**kwargs']), full);
  assert.deepEqual(parsed('x, y=, *args, k, k2=, **kwargs'), full);
  assert.deepEqual(parsed('  x ,y =,* args,k, k2 = , ** kwargs '), full);
  assert.deepEqual(parsed([]), { positional: [], varargs: null, keywordOnly: [], varkw: null, source: 'declared' });
  assert.deepEqual(parsed(''), parsed([]));
  assert.deepEqual(parsed('*, k'), { positional: [], varargs: null, keywordOnly: [{ name: 'k', optional: false }], varkw: null, source: 'declared' });
  assert.equal(formatParams(parsed('**kwargs')), '**kwargs');
  assert.equal(formatParams(parsed('*args')), '*args');
  assert.equal(formatParams(parsed('x, *, a=, b')), 'x, *, a=, b'); // a required keyword-only one may follow an optional one
  assert.equal(formatParams(parsed('$x, _y, été')), '$x, _y, été');
  for (const d of ['x, y=, *args, k, k2=, **kwargs', 'x, *, k', '', '*args, **kw', 'a=, b=']) assert.equal(formatParams(parsed(d)), d);
});

test('declarations: Python\'s rules, with the task named', () => {
  invalid('x=, y', "required parameter 'y' follows optional 'x=', as Python does not allow");
  invalid(['*args', '*'], "'*': only one '*args' or '*'");
  invalid('*, *args', "'*args': only one '*args' or '*'");
  invalid('x, *', "a bare '*' must be followed by a keyword-only parameter");
  invalid('x, *, **kw', "a bare '*' must be followed by a keyword-only parameter");
  invalid('**kw, x', "'x' follows '**kw', which must be last");
  invalid('**kw, **more', "'**more' follows '**kw', which must be last");
  invalid('x, y, x', "duplicate parameter 'x'");
  invalid('x, *x', "duplicate parameter 'x'");
  invalid('y=2', "'y=2': write 'y=' (the default value is the function's own)");
  invalid('*args=', "'*args=': '*args' takes no default");
  invalid('**kw=', "'**kw=': '**kwargs' takes no default");
  invalid('x, /, y', "positional-only parameters ('/') are not supported");
  invalid('x: int', "'x: int' is not a parameter (a name, 'name=', '*args', '*' or '**kwargs')");
  invalid('x,,y', 'an empty parameter');
  invalid(['x', 1], 'expected strings, got number');
  invalid(42, 'expected a list of strings or a string, got number');
});

test('taskParams: the declaration wins (the function is then not read); a bound task\'s self is named self', () => {
  const destructured = ({ x }: { x: number }) => x;
  assert.throws(() => taskParams(destructured as Fn, { task: 'proj.add', bind: false }), ConfigurationError);
  assert.equal(formatParams(taskParams(destructured as Fn, { task: 'proj.add', bind: false, declared: ['x'] })), 'x');
  assert.equal(taskParams(destructured as Fn, { task: 'proj.add', bind: false, declared: ['x'] }).source, 'declared');
  assert.equal(taskParams(destructured as Fn, { task: 'proj.add', bind: true, declared: 'x' }).self, 'self');
  assert.equal(taskParams(destructured as Fn, { task: 'proj.add', bind: false, declared: 'x' }).self, undefined);
  assert.throws(() => taskParams(destructured as Fn, { task: 'proj.add', bind: true, declared: 'self, x' }), {
    name: 'ConfigurationError', message: /^task proj\.add: params: a bound task's 'self' is not declared/,
  });
  assert.equal(taskParams(((x: number) => x) as Fn, { task: 'proj.add', bind: false }).source, 'read');
});

// ---------------------------------------------------------------------------------------------------
// From a Python call to the function read

test('a bound call reaches the function read: by position, by keyword, defaults, rest', () => {
  const add = (x: number, y = 10) => x + y;
  const params = readParams(add as Fn, { task: 'hidts.add', bind: false });
  const call = (args: unknown[], kwargs: Record<string, unknown> = {}) => (add as (...a: unknown[]) => number)(...bindArguments(params, 'add', args, kwargs));
  assert.equal(call([2, 3]), 5);
  assert.equal(call([2], { y: 3 }), 5);
  assert.equal(call([], { y: 3, x: 2 }), 5);
  assert.equal(call([2]), 12);
  assert.deepEqual(bindArguments(params, 'add', [2], {}), [2]); // the trailing undefined is dropped
  assert.throws(() => call([2, 3, 4]), { name: 'TypeError', message: 'add() takes from 1 to 2 positional arguments but 3 were given' });
  assert.throws(() => call([], { y: 1 }), { name: 'TypeError', message: "add() missing 1 required positional argument: 'x'" });
  const sum = (first: number, ...more: number[]) => first + more.reduce((a, b) => a + b, 0);
  assert.deepEqual(bindArguments(readParams(sum as Fn, { task: 't.sum', bind: false }), 'sum', [1, 2, 3], {}), [1, 2, 3]);
  assert.throws(() => bindArguments(readParams(sum as Fn, { task: 't.sum', bind: false }), 'sum', [1], { more: 2 }),
    { message: "sum() got an unexpected keyword argument 'more'" });
});

test("declared '**kwargs' keeps today's trailing-object convention; with *args the object comes last in the rest", () => {
  // a task written for the trailing object: (x, kwargs) => ...
  const report = (day: string, kwargs: Record<string, unknown>) => ({ day, ...kwargs });
  const params = taskParams(report as Fn, { task: 'proj.report', bind: false, declared: ['day', '**kwargs'] });
  assert.deepEqual(bindArguments(params, 'report', ['mon'], { lang: 'fr' }), ['mon', { lang: 'fr' }]);
  assert.deepEqual(bindArguments(params, 'report', [], { lang: 'fr', day: 'tue' }), ['tue', { lang: 'fr' }]);
  assert.deepEqual(bindArguments(params, 'report', ['mon'], {}), ['mon', {}]); // always passed
  // an optional positional not given stays in its place (undefined) before the object
  const opt = parseParams('x, y=, **kw', { task: 't' });
  assert.deepEqual(bindArguments(opt, 'f', [1], { z: 2 }), [1, undefined, { z: 2 }]);
  // keyword-only ones share the object; absent when not given
  const kwonly = parseParams('x, *, k, k2=', { task: 't' });
  assert.deepEqual(bindArguments(kwonly, 'f', [1], { k: 2 }), [1, { k: 2 }]);
  // *args and the object: (x, ...rest) => { const kw = rest.pop() }
  const both = parseParams('x, *args, **kwargs', { task: 't' });
  const fn = (x: number, ...rest: unknown[]) => {
    const kw = rest.pop() as Record<string, unknown>;
    return { x, rest, kw };
  };
  assert.deepEqual(fn(...(bindArguments(both, 'f', [1, 2, 3], { a: 4 }) as [number])), { x: 1, rest: [2, 3], kw: { a: 4 } });
  assert.deepEqual(fn(...(bindArguments(both, 'f', [1], {}) as [number])), { x: 1, rest: [], kw: {} });
});

test('task-params and bind-args are pure: they import acorn, errors and each other, nothing else (no app, no I/O)', async () => {
  const { readFileSync } = await import('node:fs');
  for (const [file, allowed] of [
    ['src/task-params.ts', ['acorn', './errors.ts']],
    ['src/bind-args.ts', ['./task-params.ts']],
  ] as const) {
    const specs = [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(/gm)]
      .map((m) => m[1] ?? m[2] ?? 'require(');
    assert.deepEqual(specs.filter((s) => !(allowed as readonly string[]).includes(s)), [], file);
  }
});
