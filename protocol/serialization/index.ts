export { SERIALIZERS, TRUSTED_CONTENT, dumps, getSerializer, loads, prepareAcceptContent } from './registry.ts';
export type { Serializer } from './registry.ts';
export { parseKombuJson, stringifyKombuJson, decodeKombuJson, encodeKombuJson, isPlainJson } from './json.ts';
export { encodeMsgpack, decodeMsgpack } from './msgpack.ts';
export { parseYaml, stringifyYaml, decodeYaml, encodeYaml } from './yaml.ts';
