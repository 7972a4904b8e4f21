/**
 * The app `celeriac events` loads in test/interop/cli-events.test.ts: only settings (the suite's own
 * event_exchange and control_exchange, the matrix's broker settings) from CELERIAC_EVENTS_CONF; the
 * broker comes from -b.
 */
import { Celery } from '../../src/app.ts';

export default new Celery(JSON.parse(process.env.CELERIAC_EVENTS_CONF ?? '{}') as Record<string, unknown>);
