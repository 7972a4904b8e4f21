/**
 * celeriac/protocol: Celery's wire formats as a pure codec (no I/O).
 * The public surface is this explicit list; anything not exported here is internal.
 */
export { CeleriacError, ProtocolError, ContentDisallowed, EncodeError, DecodeError } from './errors.ts';
export type { MessagePart } from './errors.ts';

export { PyDateTime, PyDate, PyTime, Decimal, UUID, isoformatUTC, isPlainObject } from './values.ts';
export type { PyValue, PyDict } from './values.ts';

export type {
  SignatureDict, Embed, TaskBody, TaskHeaders, TaskProperties, DeliveryInfo, RawMessage, TaskMessage,
} from './types.ts';

// serializers and compression
export {
  SERIALIZERS, TRUSTED_CONTENT, dumps, loads, getSerializer, prepareAcceptContent,
  parseKombuJson, stringifyKombuJson, decodeKombuJson, encodeKombuJson,
  encodeMsgpack, decodeMsgpack, parseYaml, stringifyYaml, decodeYaml, encodeYaml,
} from './serialization/index.ts';
export type { Serializer } from './serialization/registry.ts';
export { COMPRESSIONS, DEFAULT_MAX_DECOMPRESSED_SIZE, compress, decompress, compressionContentType } from './compression.ts';
export type { CompressionScheme } from './compression.ts';

// task messages
export { createTaskMessage } from './task.ts';
export type { CreateTaskOptions } from './task.ts';
export {
  encodeTaskMessage, decodeTaskMessage, decodeTaskHeaders, decodeBody, parseTaskBody, LazyTaskMessage,
  hybridToProto2, proto1ToProto2,
} from './message.ts';
export type { EncodeTaskOptions, DecodeTaskOptions, TaskHeadersInfo } from './message.ts';
export { PyTuple, pyRepr, saferepr, argsrepr, kwargsrepr } from './repr.ts';

// transport envelopes
export { encodeRedisEnvelope, decodeRedisEnvelope } from './envelope/redis.ts';
export type { EncodeRedisOptions } from './envelope/redis.ts';
export { toAmqpPublish, fromAmqpMessage, toAmqpHeaders, fromAmqpHeaders } from './envelope/amqp.ts';
export type { AmqpPublish, AmqpPublishOptions, AmqpMessageLike, AmqpFieldValue } from './envelope/amqp.ts';

// states, results and exceptions
export {
  PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, REVOKED, REJECTED, RETRY, IGNORED,
  READY_STATES, UNREADY_STATES, EXCEPTION_STATES, PROPAGATE_STATES, ALL_STATES,
  precedence, compareStates, isReady, isExceptionState, isPropagating,
} from './states.ts';
export {
  buildResultMeta, parseResultMeta, resultValue, resultException, encodeResult, startedMeta,
  taskKey, groupKey, chordJoinKey, chordSizeKey, chordTotalKey, chordUnlockKey, normalizeGlobalKeyprefix,
  asTuple, groupAsTuple, refToTuple, fromTuple, groupMeta, parseGroupMeta,
  chordJoinMember, chordJoinScore, parseChordJoinMember, buildRpcReply, parseRpcReply,
} from './result.ts';
export type { ResultMeta, ResultRequest, BuildResultMetaOptions, ResultTuple, ResultRef, ChordJoinPart, RpcReply } from './result.ts';
export {
  PythonError, CeleryError, TaskPredicate, Retry, Ignore, Reject, TaskError, NotRegistered, TaskRevokedError,
  ChordError, MaxRetriesExceededError, CeleryTimeoutError, InvalidTaskError, QueueNotFound, TimeLimitExceeded,
  SoftTimeLimitExceeded, WorkerLostError, Terminated, registerPythonException, exceptionFromInfo,
  exceptionToInfo, parseExceptionInfo, isExceptionInfo, tracebackOf,
} from './exceptions.ts';
export type { ExceptionInfo, PythonErrorOptions } from './exceptions.ts';

// canvas
export {
  signature, immutableSignature, signatureFromDict, mergeSignature, cloneSignature, freezeSignature, signatureId,
  chain, group, chord, xmap, xstarmap, chunks, chunksToGroup, mapMessage, link, linkError,
  chainToMessage, groupToMessages, chordToMessages,
} from './canvas.ts';
export type { FreezeOptions, ChainMessage, GroupMessages, ChordMessages } from './canvas.ts';
