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
 * ARGV[5]  optional (visibility restore): the ceiling its scan used; a tag whose `unacked_index` score
 *          is above it now was refreshed by the worker holding it since the scan (see REFRESH_UNACKED)
 *
 * Returns 1 when restored; 0 when the hash value changed or vanished since it was read (acked or
 * restored by someone else meanwhile): nothing was changed, the caller re-reads; 2 when the entry is
 * fresh again (ARGV[5]): nothing was changed.
 */
export const RESTORE_BY_TAG = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur) or redis.sha1hex(cur) ~= ARGV[2] then
  return 0
end
if ARGV[5] then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if score and tonumber(score) > tonumber(ARGV[5]) then
    return 2
  end
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
 * celeriac: the deliveries a live worker still holds (waiting for their ETA, or running with acks_late)
 * get a fresh `unacked_index` score, so no visibility restore, kombu's (`score <= now -
 * visibility_timeout`) or ours, takes them; a dead worker stops refreshing and its messages come back
 * as before. Only existing entries are touched (`ZADD XX`): an entry acked or restored meanwhile stays
 * gone.
 *
 * KEYS[1]  unacked_index zset      ARGV[1]  the new score (unix time, seconds)   ARGV[2..] delivery tags
 *
 * Returns the tags that were no longer in the index (restored, or acked, by another process).
 */
export const REFRESH_UNACKED = `
local missing = {}
for i = 2, #ARGV do
  if redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[1], ARGV[i]) == 0 and not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    missing[#missing + 1] = ARGV[i]
  end
end
return missing
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

/**
 * Non-blocking batch fetch: up to ARGV[1] `RPOP`s, each message recorded in the unacked hash/index in
 * the same atomic step, exactly as kombu's `QoS.append` records it (`ZADD unacked_index <now> <tag>`;
 * `HSET unacked <tag> [<envelope>, "<exchange>", "<routing_key>"]`, the envelope bytes verbatim). No
 * message is ever popped without being recorded. The consumer calls it only while it has prefetch room,
 * and BRPOPs when it returns nothing.
 *
 * KEYS[1]  unacked hash           KEYS[2]  unacked_index zset
 * KEYS[3..] the list keys, priority-major: key (step s, queue q) = KEYS[2 + (s-1)*nq + q], the queues in
 *           the order the next BRPOP would list them
 * ARGV[1]  max messages           ARGV[2]  the index score (unix time, seconds)
 * ARGV[3]  nq (number of queues)  ARGV[4]  "1" = round_robin: the queue that delivered goes last (as
 *          kombu's cycle rotates between two BRPOPs)
 * ARGV[5]  r: the number of messages the caller already took (a BRPOP) and records here, as
 *          `QoS.append` does, before popping more; ARGV[6..5+2r] their (tag, unacked value) pairs
 * ARGV[6+2r..] delivery tags acked (or rejected without requeue) since the last write: removed first
 *          (`ZREM unacked_index <tag>...; HDEL unacked <tag>...`, kombu `_remove_from_indices`)
 *
 * With max = 0 and no keys it only records and/or removes: one command instead of a MULTI/EXEC.
 *
 * Returns a flat array [key, envelope, tag, exchange, routing_key, ...]. A message the script cannot
 * record byte-identically (not JSON, no string delivery_tag, no delivery_info, an exchange or routing
 * key outside printable ASCII) is pushed back untouched to where it was (RPUSH = front) and the batch
 * stops: the consumer's BRPOP path takes it next and handles it like kombu would.
 */
export const FETCH_BATCH = String.raw`
local max = tonumber(ARGV[1])
local now = ARGV[2]
local nq = tonumber(ARGV[3])
local rotate = ARGV[4] == '1'
local nrec = tonumber(ARGV[5])
local ns = nq > 0 and (#KEYS - 2) / nq or 0
for i = 6 + 2 * nrec, #ARGV, 1000 do
  local last = math.min(i + 999, #ARGV)
  redis.call('ZREM', KEYS[2], unpack(ARGV, i, last))
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, last))
end
for i = 1, nrec do
  local tag = ARGV[4 + 2 * i]
  redis.call('ZADD', KEYS[2], now, tag)
  redis.call('HSET', KEYS[1], tag, ARGV[5 + 2 * i])
end
local order = {}
for i = 1, nq do order[i] = i end
local function jstr(s)
  if type(s) ~= 'string' or string.find(s, '[^ -~]') then return nil end
  return '"' .. (string.gsub(s, '[\\"]', '\\%0')) .. '"'
end
local out = {}
for _ = 1, max do
  local key, el, pos
  for s = 1, ns do
    for j = 1, nq do
      local k = KEYS[2 + (s - 1) * nq + order[j]]
      el = redis.call('RPOP', k)
      if el then
        key = k
        pos = j
        break
      end
    end
    if el then break end
  end
  if not el then break end
  local tag, ex, rk, exq, rkq
  local ok, doc = pcall(cjson.decode, el)
  if ok and type(doc) == 'table' and type(doc.properties) == 'table' then
    local p = doc.properties
    local di = p.delivery_info
    if type(p.delivery_tag) == 'string' and type(di) == 'table' then
      tag = p.delivery_tag
      ex = di.exchange
      rk = di.routing_key
      exq = jstr(ex)
      rkq = jstr(rk)
    end
  end
  local recorded = false
  if tag and exq and rkq then
    local z = redis.pcall('ZADD', KEYS[2], now, tag)
    local h = redis.pcall('HSET', KEYS[1], tag, '[' .. el .. ', ' .. exq .. ', ' .. rkq .. ']')
    if type(z) == 'table' and z.err or type(h) == 'table' and h.err then
      redis.pcall('ZREM', KEYS[2], tag)
      redis.pcall('HDEL', KEYS[1], tag)
    else
      recorded = true
    end
  end
  if not recorded then
    redis.call('RPUSH', key, el)
    break
  end
  out[#out + 1] = key
  out[#out + 1] = el
  out[#out + 1] = tag
  out[#out + 1] = ex
  out[#out + 1] = rk
  if rotate then
    local q = table.remove(order, pos)
    order[#order + 1] = q
  end
end
return out
`;
