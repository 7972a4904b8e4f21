import { DecodeError } from '../errors.ts';

/**
 * Celery's `SecurityError`. A kind of {@link DecodeError} (kombu wraps what the `auth` decoder raises
 * in `DecodeError`), so a worker treats a message that fails verification as a body it cannot decode.
 * `reason` is Celery's text (`Unable to deserialize: ...`, `Unknown certificate: ...`).
 */
export class SecurityError extends DecodeError {
  override name = 'SecurityError';
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super('body', reason, options);
    this.reason = reason;
  }
}
