// A TypeScript consumer that crashes while holding a message: takes one delivery from the queue, prints
// {"tag", "unacked"} (the hash value it wrote) and exits without ack or restore.
// Usage: node --import tsx test/helpers/redis-consume-and-die.ts <redis url> <global_keyprefix> <queue>
import { RedisBroker } from '../../src/brokers/redis/broker.ts';

const [url, prefix, queue] = process.argv.slice(2) as [string, string, string];
const broker = new RedisBroker(url, { global_keyprefix: prefix });
await broker.connect();
broker.consume([queue], (d) => {
  const tag = (d as { deliveryTag?: string }).deliveryTag ?? '';
  void broker.client.hget(`${prefix}unacked`, tag).then((unacked) => {
    process.stdout.write(JSON.stringify({ tag, unacked }) + '\n', () => process.exit(0));
  });
}, { prefetch: 1 });
setTimeout(() => {
  process.stderr.write('no message within 10 s\n');
  process.exit(2);
}, 10_000);
