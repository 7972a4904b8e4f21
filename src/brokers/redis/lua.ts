/**
 * Lua scripts of the Redis transport. Keys are passed already `global_keyprefix`ed.
 */

/**
 * Compare-and-restore of one unacked message (kombu `QoS.restore_by_tag`, which does the same with
 * WATCH/MULTI; a script needs no dedicated connection).
 *
 * KEYS[1]  unacked hash          KEYS[2]  unacked_index zset     KEYS[3..n]  destination lists
 * ARGV[1]  delivery tag          ARGV[2]  sha1 (hex) of the hash value the caller read
 * ARGV[3]  "1" = LPUSH (back of the queue, reject+requeue), "0" = RPUSH (front: restore)
 * ARGV[4]  the envelope to push (the stored one with the redelivered flags)
 *
 * Returns 1 when restored; 0 when the hash value changed or vanished since it was read (acked or
 * restored by someone else meanwhile): nothing was changed, the caller re-reads.
 */
export const RESTORE_BY_TAG = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur) or redis.sha1hex(cur) ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 3, #KEYS do
  if ARGV[3] == '1' then
    redis.call('LPUSH', KEYS[i], ARGV[4])
  else
    redis.call('RPUSH', KEYS[i], ARGV[4])
  end
end
return 1
`;

/**
 * redis-py `Lock.release` (the lock kombu's `Mutex` takes on `unacked_mutex`): delete the key only if it
 * still holds our token.
 * KEYS[1] mutex key; ARGV[1] token. Returns 1 if released, 0 if it had expired or was taken over.
 */
export const RELEASE_MUTEX = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
