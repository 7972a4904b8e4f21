export { SecurityError } from './errors.ts';
export { Certificate, CertStore, PrivateKey, digestAlgorithm } from './certificate.ts';
export { SecureSerializer, registerAuth, unregisterAuth, AUTH_CONTENT_TYPE } from './serializer.ts';
export type { SecureSerializerOptions, SignedPayload } from './serializer.ts';
