/**
 * celeriac: Celery's wire protocol in TypeScript. Today the package exposes the protocol layer;
 * brokers, result backends, producer, worker and beat are built on it in src/.
 */
export * from '../protocol/index.ts';
