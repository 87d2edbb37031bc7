using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Rx.SharedMemory.Redis;

/// <summary>
/// The engine's operations as the functions of one Redis function library: each runs atomically in Redis, so a
/// change, its value, its version, its log entry and its notification commit together, whichever master sends it.
/// </summary>
/// <remarks>
/// <para>A library (Redis 7's <c>FUNCTION LOAD</c>), not scripts: its helpers are made once, when it is loaded, where a
/// script made them again at every call (about 4 µs of Redis's time per call on the benchmark's machine; a get cost
/// 21 µs as a script, 8 µs as a function). Its name carries a hash of its source, so that masters of different builds
/// sharing one Redis each call their own (<see cref="LibraryName"/>).</para>
/// <para>KEYS[1] is the store's hash tag, <c>{name}</c>: every key the functions touch starts with it, so that a store lives
/// in one Redis Cluster slot. ARGV[1..5] are the store's bounds (<see cref="Bounds"/>); an operation's own arguments follow.</para>
/// <para>The layout, under the tag: <c>version</c> (the counter), <c>values</c> (hash: key to value), <c>meta</c> (hash:
/// key to "version,timestamp,deadline,owned,value length", what a write needs to know of the key without its value),
/// <c>keys</c> (sorted set of keys, for prefixes), <c>lru</c> (sorted set by last use, kept only where a bound can
/// evict), <c>uses</c> (the use counter), <c>bytes</c>, <c>deadlines</c> (sorted set by expiry, Unix ms), <c>owners</c>
/// (hash: ephemeral key to owner), <c>log</c> (the change log, a stream whose entry ids are the versions),
/// <c>logbytes</c>, <c>changes</c> (the channel that wakes the masters' readers, and tells them up to 8 changes in up to 64 KiB), <c>locks</c>, <c>lockq:</c>name,
/// <c>lockqueues</c>, <c>locktokens</c>, <c>grants</c> (a channel), <c>masters</c> (hash: master id to lease deadline),
/// <c>renewed</c> (when a master last renewed its lease).</para>
/// <para>Times are Redis's own (<c>TIME</c>), so every master agrees on them. Results are arrays whose first element is 0,
/// or a negative code: -1 a bound refused the write (name, limit, actual), -2 the value is not an integer, -3 an
/// increment overflows.</para>
/// </remarks>
internal static class RedisScripts
{
    /// <summary>The helpers every function uses, made once when the library is loaded.</summary>
    private const string Prelude = """
        local P
        local LOG_CAPACITY, LOG_MAX_BYTES, MAX_ENTRIES, MAX_BYTES, NO_EVICTION, BOUNDED, EVICTS
        local ARGV
        -- Kinds as the log stores them: strings, since Lua turns a number into text through sprintf at every use.
        local SET, DELETED, EXPIRED, EVICTED = '0', '1', '2', '3'
        -- While a batch runs (the Batch function): its time, read once; the first and last versions it committed; the
        -- bytes its log entries added. The version counter, the log's bytes and its trimming are written once, and the
        -- wake-up published once, at its end (finish_batch), with the news of its changes while they fit (BATCH_NEWS, its
        -- parts, or nil past NEWS_MAX_CHANGES or NEWS_MAX_BYTES). The store's bytes and its use counter are read when
        -- first needed and written once at the end (BATCH_BYTES, BATCH_USES; nil until read). BATCH_NOW is nil outside a
        -- batch (setup clears them all at the start of every function).
        local BATCH_NOW, BATCH_FIRST, BATCH_LAST, BATCH_LOGBYTES, BATCH_NEWS, BATCH_NEWS_BYTES, BATCH_BYTES, BATCH_USES
        -- The log fields of the batch's last commit, whose first six (key, kind, time) stamp a wake-up that carries its
        -- version alone.
        local BATCH_LAST_FIELDS
        -- The last time turned into text, and its text: a batch's writes share one time.
        local TIME_N, TIME_S

        -- The most bytes and changes a wake-up carries: past either, a wake-up is the last version alone, and the
        -- masters' readers read the changes from the log. Few changes: for many (a large batch), one read of the log
        -- per master costs Redis less than writing them out in Lua (a batch of 64 sets and gets cost about 9% more).
        local NEWS_MAX_BYTES, NEWS_MAX_CHANGES = 65536, 8

        -- Every function starts here: the store's tag and bounds, for the helpers below (a function runs alone in Redis).
        local function setup(keys, args)
          BATCH_NOW, BATCH_FIRST, BATCH_LAST, BATCH_LOGBYTES, BATCH_NEWS, BATCH_NEWS_BYTES, BATCH_BYTES, BATCH_USES = nil, nil, nil, 0, {'='}, 1, nil, nil
          ARGV = args
          P = keys[1] .. ':'
          LOG_CAPACITY, LOG_MAX_BYTES = tonumber(args[1]), tonumber(args[2])
          MAX_ENTRIES, MAX_BYTES, NO_EVICTION = tonumber(args[3]), tonumber(args[4]), args[5] == '1'
          BOUNDED = MAX_ENTRIES >= 0 or MAX_BYTES >= 0
          -- Uses are kept (the lru set) only where a bound can evict: elsewhere they would cost every write two calls.
          EVICTS = BOUNDED and not NO_EVICTION
        end

        local function now_ms()
          if BATCH_NOW then return BATCH_NOW end
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        local function time_text(now)
          if now ~= TIME_N then TIME_N, TIME_S = now, tostring(now) end
          return TIME_S
        end

        -- The store's bytes (keys and values), and a change of them: in a batch, kept here and written at its end.
        local function store_bytes()
          if BATCH_BYTES then return BATCH_BYTES end
          local bytes = tonumber(redis.call('GET', P .. 'bytes') or '0')
          if BATCH_NOW then BATCH_BYTES = bytes end
          return bytes
        end

        local function add_bytes(delta)
          if BATCH_NOW then
            BATCH_BYTES = store_bytes() + delta
          else
            redis.call('INCRBY', P .. 'bytes', delta)
          end
        end

        -- The next value of the use counter, which orders keys by last use for eviction; in a batch, as store_bytes.
        local function next_use()
          if not BATCH_NOW then return redis.call('INCR', P .. 'uses') end
          BATCH_USES = (BATCH_USES or tonumber(redis.call('GET', P .. 'uses') or '0')) + 1
          return BATCH_USES
        end

        local function entry_size(fields)
          local size = 32
          for i = 1, #fields, 2 do
            if fields[i] == 'k' or fields[i] == 'v' then size = size + #fields[i + 1] end
          end
          return size
        end

        -- How far the log may pass a bound before it is trimmed back to it: a 64th of a large bound, so that trimming takes
        -- a few calls per many writes instead of three per write; none for a small one.
        local function slack(bound)
          if bound >= 4096 then return math.floor(bound / 64) end
          return 0
        end

        -- Trims the oldest entries until the log is within both bounds (never its last entry).
        local function trim(length, logbytes)
          while length > 1 and (length > LOG_CAPACITY or logbytes > LOG_MAX_BYTES) do
            local oldest = redis.call('XRANGE', P .. 'log', '-', '+', 'COUNT', math.min(256, length - 1))
            local ids, freed = {}, 0
            for _, e in ipairs(oldest) do
              if length <= 1 or (length <= LOG_CAPACITY and logbytes <= LOG_MAX_BYTES) then break end
              local size = entry_size(e[2])
              ids[#ids + 1] = e[1]
              freed = freed + size
              logbytes = logbytes - size
              length = length - 1
            end
            if #ids == 0 then break end
            -- The oldest entries, up to the last to go: XTRIM drops whole nodes of the stream, where XDEL of each id
            -- cost Redis about 4 µs an entry.
            redis.call('XTRIM', P .. 'log', 'MINID', '=', (tonumber(string.match(ids[#ids], '^(%d+)')) + 1) .. '-0')
            redis.call('DECRBY', P .. 'logbytes', freed)
          end
        end

        -- Trims the log once it has passed a bound by its slack.
        local function trim_if_over(logbytes)
          local length = redis.call('XLEN', P .. 'log')
          if length > LOG_CAPACITY + slack(LOG_CAPACITY) or logbytes > LOG_MAX_BYTES + slack(LOG_MAX_BYTES) then
            trim(length, logbytes)
          end
        end

        -- A change as a wake-up carries it, so that the other masters hand it out without reading the log: ' version
        -- count' (count: of its fields, names and values), then each field as ' length:bytes'. A wake-up is '=' and its
        -- changes, in version order. One that carries none is '#' and the last change's stamp in the same form: its
        -- version, key, kind and time, no value (a master's reader compares it with the change it handed out there).
        local function news(v, fields)
          local parts = {' ', v, ' ', #fields}
          for i = 1, #fields do
            local f = fields[i]
            if type(f) == 'number' then f = string.format('%.0f', f) end
            parts[#parts + 1] = ' ' .. #f .. ':'
            parts[#parts + 1] = f
          end
          return table.concat(parts)
        end

        -- A change's log fields without its value and the rest: key, kind and time, the first six.
        local function stamp_fields(fields)
          return {fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]}
        end

        -- The one commit path: the next version, the log entry, its trimming, and the readers' wake-up with the change
        -- (in a batch, the last three at its end). trace is the W3C traceparent the change carries ('' or nil for none).
        local function commit(key, kind, value, now, deadline, trace)
          local v
          if BATCH_NOW then
            v = (BATCH_LAST or tonumber(redis.call('GET', P .. 'version') or '0')) + 1
          else
            v = redis.call('INCR', P .. 'version')
          end
          local vs = tostring(v)
          local fields = {'k', key, 't', kind, 's', time_text(now)}
          if value then fields[#fields + 1] = 'v'; fields[#fields + 1] = value end
          if deadline > 0 then fields[#fields + 1] = 'd'; fields[#fields + 1] = deadline end
          if trace and trace ~= '' then fields[#fields + 1] = 'p'; fields[#fields + 1] = trace end
          redis.call('XADD', P .. 'log', vs .. '-0', unpack(fields))
          local size = entry_size(fields)
          -- Its news, where it fits what the wake-up has room for (size, a part of it, tells a large value at once).
          local room = NEWS_MAX_BYTES - 1
          if BATCH_NOW then
            room = 0
            if BATCH_NEWS and #BATCH_NEWS <= NEWS_MAX_CHANGES then room = NEWS_MAX_BYTES - BATCH_NEWS_BYTES end
          end
          local told = nil
          if size <= room then
            told = news(v, fields)
            if #told > room then told = nil end
          end
          if BATCH_NOW then
            BATCH_FIRST = BATCH_FIRST or v
            BATCH_LAST = v
            BATCH_LAST_FIELDS = fields
            BATCH_LOGBYTES = BATCH_LOGBYTES + size
            if told then
              BATCH_NEWS[#BATCH_NEWS + 1] = told
              BATCH_NEWS_BYTES = BATCH_NEWS_BYTES + #told
            else
              BATCH_NEWS = nil
            end
            return v, vs
          end
          trim_if_over(redis.call('INCRBY', P .. 'logbytes', size))
          if told then
            redis.call('PUBLISH', P .. 'changes', '=' .. told)
          else
            redis.call('PUBLISH', P .. 'changes', '#' .. news(v, stamp_fields(fields)))
          end
          return v, vs
        end

        -- The end of a batch: the counters it kept; then, where it committed, what its commits left to it, in the order a
        -- commit does it.
        local function finish_batch()
          if BATCH_BYTES then redis.call('SET', P .. 'bytes', BATCH_BYTES) end
          if BATCH_USES then redis.call('SET', P .. 'uses', BATCH_USES) end
          if not BATCH_FIRST then return end
          redis.call('SET', P .. 'version', BATCH_LAST)
          trim_if_over(redis.call('INCRBY', P .. 'logbytes', BATCH_LOGBYTES))
          if BATCH_NEWS then
            redis.call('PUBLISH', P .. 'changes', table.concat(BATCH_NEWS))
          else
            redis.call('PUBLISH', P .. 'changes', '#' .. news(BATCH_LAST, stamp_fields(BATCH_LAST_FIELDS)))
          end
        end

        -- A key's entry in meta, as a table {version, stamp, deadline (0: none), owned, length (of its value)}; nil when
        -- absent. An entry of the older form "version,stamp" is completed from the other structures.
        local function read_meta(key)
          local m = redis.call('HGET', P .. 'meta', key)
          if not m then return nil end
          local version, stamp, deadline, owned, length = string.match(m, '^(%d+),(%d+),(%d+),(%d),(%d+)$')
          if version then
            return {version = tonumber(version), stamp = tonumber(stamp), deadline = tonumber(deadline), owned = owned == '1', length = tonumber(length)}
          end
          version, stamp = string.match(m, '(%d+),(%d+)')
          return {
            version = tonumber(version), stamp = tonumber(stamp),
            deadline = tonumber(redis.call('ZSCORE', P .. 'deadlines', key) or '0'),
            owned = redis.call('HEXISTS', P .. 'owners', key) == 1,
            length = redis.call('HSTRLEN', P .. 'values', key)}
        end

        -- Removes a key (its entry, s, when the caller has read it); only a deletion a caller asked for passes a trace,
        -- never an expiry, eviction or release.
        local function remove(key, kind, now, trace, s)
          s = s or read_meta(key)
          if not s then return 0 end
          redis.call('HDEL', P .. 'values', key)
          redis.call('HDEL', P .. 'meta', key)
          redis.call('ZREM', P .. 'keys', key)
          redis.call('ZREM', P .. 'lru', key)
          if s.deadline > 0 then redis.call('ZREM', P .. 'deadlines', key) end
          if s.owned then redis.call('HDEL', P .. 'owners', key) end
          add_bytes(-(#key + s.length))
          return commit(key, kind, nil, now, 0, trace)
        end

        -- A key's entry, expiring it first when its deadline has passed and the expiry pass has not come round yet. now is
        -- Redis's time, or nil to read it only for a key with a deadline. Returns the entry (nil when absent) and now.
        local function state(key, now)
          local s = read_meta(key)
          if s and s.deadline > 0 then
            now = now or now_ms()
            if s.deadline <= now then
              remove(key, EXPIRED, now, nil, s)
              return nil, now
            end
          end
          return s, now
        end

        local function exceeded(entries, bytes)
          return (MAX_ENTRIES >= 0 and entries > MAX_ENTRIES) or (MAX_BYTES >= 0 and bytes > MAX_BYTES)
        end

        -- The key least recently used, other than key. Keys written while no bound could evict have no use recorded:
        -- they are older than any that has, and go first, in key order.
        local function least_used(key)
          -- Keys written while no bound could evict have no use kept: each gets the lowest use (0), so that they go
          -- first, in key order. The store's keys are looked through until every such key has one.
          local missing = redis.call('HLEN', P .. 'values') - redis.call('ZCARD', P .. 'lru')
          local at = 0
          while missing > 0 do
            local page = redis.call('ZRANGE', P .. 'keys', at, at + 255)
            if #page == 0 then break end
            for _, k in ipairs(page) do
              if not redis.call('ZSCORE', P .. 'lru', k) and redis.call('HEXISTS', P .. 'values', k) == 1 then
                redis.call('ZADD', P .. 'lru', 0, k)
                missing = missing - 1
              end
            end
            at = at + 256
          end
          local oldest = redis.call('ZRANGE', P .. 'lru', 0, 1)
          if oldest[1] == key then return oldest[2] end
          return oldest[1]
        end

        -- Evicts least recently used keys (never the key written) so that the write fits; or the bound it breaks. old is
        -- the key's entry (nil: absent).
        local function make_room(key, old, size, now)
          if MAX_BYTES >= 0 and size > MAX_BYTES then return {-1, 'MaxBytes', MAX_BYTES, size} end
          -- Each count is read only where it has a bound.
          local entries, bytes = 0, 0
          if MAX_ENTRIES >= 0 then entries = redis.call('HLEN', P .. 'values') + (old and 0 or 1) end
          if MAX_BYTES >= 0 then bytes = store_bytes() - (old and (#key + old.length) or 0) + size end
          if not exceeded(entries, bytes) then return nil end
          if NO_EVICTION then
            if MAX_ENTRIES >= 0 and entries > MAX_ENTRIES then return {-1, 'MaxEntries', MAX_ENTRIES, entries} end
            return {-1, 'MaxBytes', MAX_BYTES, bytes}
          end
          while exceeded(entries, bytes) do
            local victim = least_used(key)
            if not victim then break end
            local s = read_meta(victim)
            if s then
              entries = entries - 1
              bytes = bytes - (#victim + s.length)
              remove(victim, EVICTED, now, nil, s)
            else
              redis.call('ZREM', P .. 'lru', victim)
            end
          end
          return nil
        end

        local function touch(key)
          if EVICTS then redis.call('ZADD', P .. 'lru', next_use(), key) end
        end

        -- Writes a value over the key's entry old (nil: absent); ttl in ms (0: none), owner '' for none, trace the
        -- traceparent its change carries ('' for none). Returns {0, version} or a refusal. Only what changes is written: a
        -- key's place in the key set, its deadline and its owner cost a call only when they are new or go.
        local function write(key, value, old, ttl, owner, now, trace)
          local size = #key + #value
          if BOUNDED then
            local refused = make_room(key, old, size, now)
            if refused then return refused end
          end
          local deadline = 0
          if ttl > 0 then deadline = now + ttl end
          local v, vs = commit(key, SET, value, now, deadline, trace)
          local owned = ',0,'
          if owner ~= '' then owned = ',1,' end
          local d = '0'
          if deadline > 0 then d = tostring(deadline) end
          redis.call('HSET', P .. 'values', key, value)
          redis.call('HSET', P .. 'meta', key, vs .. ',' .. time_text(now) .. ',' .. d .. owned .. #value)
          if not old then redis.call('ZADD', P .. 'keys', 0, key) end
          local grown = size - (old and (#key + old.length) or 0)
          if grown ~= 0 then add_bytes(grown) end
          touch(key)
          if deadline > 0 then
            redis.call('ZADD', P .. 'deadlines', deadline, key)
          elseif old and old.deadline > 0 then
            redis.call('ZREM', P .. 'deadlines', key)
          end
          if owner ~= '' then
            redis.call('HSET', P .. 'owners', key, owner)
          elseif old and old.owned then
            redis.call('HDEL', P .. 'owners', key)
          end
          return {0, v}
        end

        -- A log entry with its key, kind and time only: what a master's reader compares with the change it handed out
        -- at that version, which is another commit once the store went back and was written again.
        local function stamp_of(entry)
          return {entry[1], stamp_fields(entry[2])}
        end

        -- The stamp of the log's entry at version v, or nil.
        local function stamp_at(v)
          if v <= 0 then return nil end
          local at = redis.call('XRANGE', P .. 'log', v .. '-0', v .. '-0')[1]
          if not at then return nil end
          return stamp_of(at)
        end

        -- The log's entries after the writer's reader position (from) up to last, the writer's own from first on, so that
        -- its master hands them out without reading the log: {} when others' before first are many, when all are larger
        -- than max_bytes, or trimmed (the reader reads them then). Few of others': the writes in flight together would
        -- each carry the same entries again.
        -- Led by from's stamp, when the log has it; one read of the log, from's entry included.
        local function log_after(from, first, last, max_bytes)
          if not from or from < 0 or first - from > 8 then return {} end
          local entries = redis.call('XRANGE', P .. 'log', math.max(from, 1) .. '-0', last .. '-0')
          local after = 1
          if entries[1] and entries[1][1] == from .. '-0' then
            entries[1] = stamp_of(entries[1])
            after = 2
          end
          if not entries[after] or entries[after][1] ~= (from + 1) .. '-0' then return {} end
          local size = 0
          for i = after, #entries do size = size + entry_size(entries[i][2]) end
          if size > max_bytes then return {} end
          return entries
        end

        -- Inside a batch, {}: the batch returns its entries once, at its end.
        local function since(v)
          if BATCH_NOW then return {} end
          return log_after(tonumber(ARGV[#ARGV]), v, v, 16384)
        end

        local function current_version()
          if BATCH_LAST then return BATCH_LAST end
          return tonumber(redis.call('GET', P .. 'version') or '0')
        end

        -- Expires up to 256 keys whose deadline has passed; returns the next deadline, or -1.
        local function expire_due(now)
          local due = redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', now, 'LIMIT', 0, 256)
          for _, key in ipairs(due) do remove(key, EXPIRED, now) end
          local next = redis.call('ZRANGE', P .. 'deadlines', 0, 0, 'WITHSCORES')
          if next[2] then return tonumber(next[2]) end
          return -1
        end

        -- Passes a lock to the first waiter in its queue, or frees it; tells the masters whom it went to.
        local function pass_lock(name)
          local nextWaiter = redis.call('LPOP', P .. 'lockq:' .. name)
          if nextWaiter then
            redis.call('HSET', P .. 'locks', name, nextWaiter)
            redis.call('PUBLISH', P .. 'grants', nextWaiter)
            if redis.call('LLEN', P .. 'lockq:' .. name) == 0 then redis.call('SREM', P .. 'lockqueues', name) end
          else
            redis.call('HDEL', P .. 'locks', name)
          end
        end

        -- "token|owner|request|name": a holder or a waiter.
        local function owner_of(claim)
          local _, _, owner = string.find(claim, '^%d+|([^|]*)|')
          return owner
        end

        local function starts_with(s, prefix)
          return string.sub(s, 1, #prefix) == prefix
        end

        -- Releases what owners matching (owner exact, or every owner under a prefix) hold: locks, waits, ephemeral keys.
        local function release_owners(matches, now)
          local deleted = 0
          local owned = redis.call('HGETALL', P .. 'owners')
          for i = 1, #owned, 2 do
            if matches(owned[i + 1]) then
              remove(owned[i], DELETED, now)
              deleted = deleted + 1
            end
          end
          for _, name in ipairs(redis.call('SMEMBERS', P .. 'lockqueues')) do
            local queue = P .. 'lockq:' .. name
            for _, waiter in ipairs(redis.call('LRANGE', queue, 0, -1)) do
              if matches(owner_of(waiter)) then redis.call('LREM', queue, 0, waiter) end
            end
            if redis.call('LLEN', queue) == 0 then redis.call('SREM', P .. 'lockqueues', name) end
          end
          local held = redis.call('HGETALL', P .. 'locks')
          for i = 1, #held, 2 do
            if matches(owner_of(held[i + 1])) then pass_lock(held[i]) end
          end
          return deleted
        end
        """;

    /// <summary>The library's functions: each its name and its body, which runs after <c>setup</c>.</summary>
    private static readonly (string Name, string Body)[] Functions =
    [
        (nameof(Get), """
            local key = ARGV[6]
            local s = state(key, nil)
            if not s then return {} end
            if ARGV[7] == '1' then touch(key) end
            return {redis.call('HGET', P .. 'values', key), s.version, s.stamp}
            """),
        (nameof(Set), """
            local now = now_ms()
            local key = ARGV[6]
            local written = write(key, ARGV[7], state(key, now), tonumber(ARGV[8]), ARGV[9], now, ARGV[10])
            if written[1] ~= 0 then return written end
            return {0, written[2], since(written[2])}
            """),
        (nameof(CompareAndSet), """
            local now = now_ms()
            local key = ARGV[6]
            local old = state(key, now)
            local current = 0
            if old then current = old.version end
            if current ~= tonumber(ARGV[10]) then return {0, 0, current} end
            local written = write(key, ARGV[7], old, tonumber(ARGV[8]), ARGV[9], now, ARGV[11])
            if written[1] ~= 0 then return written end
            return {0, 1, written[2], since(written[2])}
            """),
        (nameof(Increment), """
            local now = now_ms()
            local key = ARGV[6]
            local old = state(key, now)
            local value = nil
            if old then value = redis.call('HGET', P .. 'values', key) end
            local scratch = P .. 'scratch'
            -- JSON's -0 is zero, as the embedded engine reads it; Redis's integers refuse it.
            local start = value or '0'
            if start == '-0' then start = '0' end
            redis.call('SET', scratch, start)
            local sum = redis.pcall('INCRBY', scratch, ARGV[7])
            local next = redis.call('GET', scratch)
            redis.call('DEL', scratch)
            if type(sum) == 'table' and sum.err then
              if string.find(sum.err, 'overflow') then return {-3, value} end
              return {-2, string.sub(value, 1, 64)}
            end
            local ttl = 0
            if old and old.deadline > 0 then ttl = math.max(1, old.deadline - now) end
            local owner = ''
            if old and old.owned then owner = redis.call('HGET', P .. 'owners', key) or '' end
            local written = write(key, next, old, ttl, owner, now, ARGV[8])
            if written[1] ~= 0 then return written end
            return {0, next, written[2], since(written[2])}
            """),
        (nameof(Delete), """
            local now = now_ms()
            local key = ARGV[6]
            local s = state(key, now)
            if not s then return {0, {}} end
            local v = remove(key, DELETED, now, ARGV[7], s)
            return {v, since(v)}
            """),
        (nameof(ExpireDue), """
            local now = now_ms()
            return {expire_due(now), now}
            """),
        (nameof(Size), """
            return {redis.call('HLEN', P .. 'values'), store_bytes(), redis.call('XLEN', P .. 'log')}
            """),
        (nameof(SnapshotKey), """
            local now = now_ms()
            local key = ARGV[6]
            local s = state(key, now)
            if not s then return {current_version(), false, 0, now} end
            return {current_version(), redis.call('HGET', P .. 'values', key), s.version, s.stamp}
            """),
        (nameof(SnapshotPrefix), """
            local now = now_ms()
            expire_due(now)
            local prefix, cursor, page = ARGV[6], ARGV[7], tonumber(ARGV[8])
            -- Keys are score-0 members: ordered bytewise, so the keys under a prefix are one range of the set.
            local from, to = '-', '+'
            if prefix ~= '' then from, to = '[' .. prefix, '(' .. prefix .. '\255' end
            if cursor ~= '' then from = '(' .. cursor end
            local keys
            if page > 0 then
              -- One key past the page tells whether more follow, without a call that finds none.
              keys = redis.call('ZRANGEBYLEX', P .. 'keys', from, to, 'LIMIT', 0, page + 1)
            else
              keys = redis.call('ZRANGEBYLEX', P .. 'keys', from, to)
            end
            local more = 0
            if page > 0 and #keys > page then
              more = 1
              keys[#keys] = nil
            end
            local result = {current_version(), now, more}
            for _, key in ipairs(keys) do
              local s = read_meta(key)
              result[#result + 1] = key
              result[#result + 1] = redis.call('HGET', P .. 'values', key)
              result[#result + 1] = s.version
              result[#result + 1] = s.stamp
            end
            return result
            """),
        (nameof(ReadLog), """
            local from = tonumber(ARGV[6])
            local read = {}
            local stamp = stamp_at(from)
            if stamp then read[1] = stamp end
            for _, e in ipairs(redis.call('XRANGE', P .. 'log', '(' .. from .. '-0', '+', 'COUNT', tonumber(ARGV[7]))) do
              read[#read + 1] = e
            end
            return read
            """),
        (nameof(Replay), """
            local after, filter, prefix = tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1'
            local version = current_version()
            if after == version then return {1, version} end
            -- Past the store's version: a state the store lost (a replica promoted before it had every write); a Reset.
            if after > version then return {0, version} end
            local oldest = redis.call('XRANGE', P .. 'log', '-', '+', 'COUNT', 1)[1]
            if not oldest or tonumber(string.match(oldest[1], '^(%d+)')) > after + 1 then return {0, version} end
            -- At most a page of the log per call: a resume from far back holds Redis up for one page at a time.
            local page = tonumber(ARGV[9])
            local entries = redis.call('XRANGE', P .. 'log', (after + 1) .. '-0', '+', 'COUNT', page)
            local result = {1, version}
            if #entries == page then
              local last = tonumber(string.match(entries[#entries][1], '^(%d+)'))
              if last < version then result = {2, last} end
            end
            for _, entry in ipairs(entries) do
              local key = entry[2][2]
              if (prefix and starts_with(key, filter)) or key == filter then result[#result + 1] = entry end
            end
            return result
            """),
        (nameof(ReleaseOwner), """
            local owner = ARGV[6]
            release_owners(function(o) return o == owner end, now_ms())
            return current_version()
            """),
        (nameof(Lock), """
            local name, owner = ARGV[6], ARGV[7]
            local token = redis.call('INCR', P .. 'locktokens')
            local claim = token .. '|' .. owner .. '|' .. ARGV[8] .. '|' .. name
            if not redis.call('HGET', P .. 'locks', name) then
              redis.call('HSET', P .. 'locks', name, claim)
              return {1, token}
            end
            redis.call('RPUSH', P .. 'lockq:' .. name, claim)
            redis.call('SADD', P .. 'lockqueues', name)
            return {0, token}
            """),
        (nameof(Unlock), """
            local name, token = ARGV[6], ARGV[7]
            local holder = redis.call('HGET', P .. 'locks', name)
            if not holder or not starts_with(holder, token .. '|') then return 0 end
            pass_lock(name)
            return 1
            """),
        (nameof(Abandon), """
            local name, token, owner = ARGV[6], ARGV[7], ARGV[8]
            local claim = token .. '|' .. owner .. '|' .. ARGV[9] .. '|' .. name
            if redis.call('HGET', P .. 'locks', name) == claim then return 1 end
            redis.call('LREM', P .. 'lockq:' .. name, 0, claim)
            if redis.call('LLEN', P .. 'lockq:' .. name) == 0 then redis.call('SREM', P .. 'lockqueues', name) end
            return 0
            """),
        (nameof(Forget), """
            local name = ARGV[6]
            local mark = '|' .. ARGV[7] .. '|' .. ARGV[8] .. '|'
            local holder = redis.call('HGET', P .. 'locks', name)
            if holder and string.find(holder, mark, 1, true) then
              pass_lock(name)
              return 1
            end
            local queue = P .. 'lockq:' .. name
            for _, waiter in ipairs(redis.call('LRANGE', queue, 0, -1)) do
              if string.find(waiter, mark, 1, true) then
                redis.call('LREM', queue, 0, waiter)
                if redis.call('LLEN', queue) == 0 then redis.call('SREM', P .. 'lockqueues', name) end
                return 1
              end
            end
            return 0
            """),
        (nameof(Renew), """
            local id, lease, now = ARGV[6], tonumber(ARGV[7]), now_ms()
            -- Leases are deadlines in Redis's clock, which runs on while Redis is down. When no master has renewed for
            -- half a lease, all may have been cut off as long (Redis restarting, failing over, out of reach): every
            -- lease gets a lease from now, so that the live masters, back too, renew before any is reaped.
            local last = tonumber(redis.call('GET', P .. 'renewed') or '0')
            if last > 0 and now - last > lease / 2 then
              local leases = redis.call('HGETALL', P .. 'masters')
              for i = 1, #leases, 2 do
                if tonumber(leases[i + 1]) < now + lease then redis.call('HSET', P .. 'masters', leases[i], now + lease) end
              end
            end
            redis.call('SET', P .. 'renewed', now)
            local held = redis.call('HEXISTS', P .. 'masters', id)
            redis.call('HSET', P .. 'masters', id, now + lease)
            return held
            """),
        (nameof(Leave), """
            local prefix = 'm' .. ARGV[6] .. '/'
            release_owners(function(o) return o ~= nil and starts_with(o, prefix) end, now_ms())
            redis.call('HDEL', P .. 'masters', ARGV[6])
            return current_version()
            """),
        (nameof(Reap), """
            local now = now_ms()
            local leases = redis.call('HGETALL', P .. 'masters')
            local reaped = {}
            for i = 1, #leases, 2 do
              if tonumber(leases[i + 1]) < now then
                local prefix = 'm' .. leases[i] .. '/'
                release_owners(function(o) return o ~= nil and starts_with(o, prefix) end, now)
                redis.call('HDEL', P .. 'masters', leases[i])
                reaped[#reaped + 1] = leases[i]
              end
            end
            return reaped
            """),
    ];

    /// <summary>
    /// Runs many calls of the functions above in one, in order, each as it would run alone but for three things: they
    /// share one reading of Redis's time; the batch publishes one wake-up, with its changes (up to 8, in up to 64 KiB) or else its last version; and it returns the log's
    /// entries once, for all of them. A call that fails (a Lua error) fails alone: its result is false, and its message is in a list of failures.
    /// Once its gets have read more than its budget of value bytes, it runs no further call: they are a tail not run,
    /// so that one batch of gets cannot make its master hold more than that (and one value) of their answers.
    /// </summary>
    private const string BatchBody = """
        local from, count, budget, at = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), 9
        local bounds = {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]}
        BATCH_NOW = now_ms()
        local results, failures, read, ran = {}, {}, 0, count
        for c = 1, count do
          if budget >= 0 and read > budget then
            ran = c - 1
            break
          end
          local name, argc = ARGV[at], tonumber(ARGV[at + 1])
          local op = OPS[name]
          local call = {bounds[1], bounds[2], bounds[3], bounds[4], bounds[5]}
          for j = 1, argc do call[5 + j] = ARGV[at + 1 + j] end
          at = at + 2 + argc
          local args = ARGV
          ARGV = call
          local ok, result = pcall(op)
          ARGV = args
          if ok then
            -- A nil would end the array there.
            if result == nil then result = false end
            results[c] = result
            if name == 'Get' and type(result) == 'table' and type(result[1]) == 'string' then read = read + #result[1] end
          else
            -- Not an error reply in the array (clients read one as a fault of the whole answer): its index and message.
            results[c] = false
            failures[#failures + 1] = c
            if type(result) == 'table' and result.err then result = result.err end
            failures[#failures + 1] = tostring(result)
          end
        end
        local entries = {}
        if BATCH_FIRST then
          -- Read before the log is trimmed: a batch of more writes than the log holds still hands its own out.
          entries = log_after(from, BATCH_FIRST, BATCH_LAST, 1048576)
        end
        finish_batch()
        return {results, entries, failures, ran}
        """;

    /// <summary>Gets the library's name: <c>rxsm_</c> and a hash of its source.</summary>
    public static string LibraryName { get; } = "rxsm_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Prelude + string.Concat(Functions.Select(f => f.Name + f.Body)) + BatchBody)), 0, 6);

    /// <summary>Gets the library's source, for <c>FUNCTION LOAD</c>.</summary>
    public static string Library { get; } = BuildLibrary();

    /// <summary>ARGV[6] key, ARGV[7] whether a read counts as a use. Returns {} when absent, or {value, version, timestamp}.</summary>
    public static string Get { get; } = FunctionName(nameof(Get));

    /// <summary>
    /// ARGV[6] key, ARGV[7] value, ARGV[8] time to live in ms (0: none), ARGV[9] owner ('' for none), ARGV[10] the
    /// traceparent its change carries ('' for none), ARGV[11] the writer's reader position. Returns {0, version, the
    /// log's entries after that position}.
    /// </summary>
    public static string Set { get; } = FunctionName(nameof(Set));

    /// <summary>
    /// As <see cref="Set"/>, with ARGV[10] the expected version (0: absent), ARGV[11] the traceparent and ARGV[12] the
    /// reader position. Returns {0, 1, version, entries} or {0, 0, current version}.
    /// </summary>
    public static string CompareAndSet { get; } = FunctionName(nameof(CompareAndSet));

    /// <summary>
    /// ARGV[6] key, ARGV[7] delta, ARGV[8] the traceparent its change carries ('' for none), ARGV[9] the reader
    /// position. The sum is Redis's own 64-bit INCRBY on a scratch key
    /// (Lua's numbers are doubles): exact, and refused on overflow. Keeps the key's deadline and owner. Returns
    /// {0, new value, version, entries}.
    /// </summary>
    public static string Increment { get; } = FunctionName(nameof(Increment));

    /// <summary>
    /// ARGV[6] key, ARGV[7] the traceparent its change carries ('' for none), ARGV[8] the reader position. Returns
    /// {the version of the deletion (0 when the key was absent), entries}.
    /// </summary>
    public static string Delete { get; } = FunctionName(nameof(Delete));

    /// <summary>Expires what is due. Returns {next deadline or -1, Redis's time now}.</summary>
    public static string ExpireDue { get; } = FunctionName(nameof(ExpireDue));

    /// <summary>Returns {keys, bytes, the change log's length}: what the master's instruments report of the store.</summary>
    public static string Size { get; } = FunctionName(nameof(Size));

    /// <summary>ARGV[6] key. Returns {store version, value or false, version, timestamp}: the key's state at one version.</summary>
    public static string SnapshotKey { get; } = FunctionName(nameof(SnapshotKey));

    /// <summary>
    /// ARGV[6] prefix, ARGV[7] cursor: the last key a previous page returned, or '' for the first page; ARGV[8] the
    /// most keys to read (0: every one). Expires what is due first, then reads the keys under the prefix after the
    /// cursor, in bytewise order. Returns {store version, now, 1 when keys after the page's last remain under the prefix
    /// (0 when not), key, value, version, timestamp, …}: the page's state at that one version. The next page's cursor is
    /// this page's last key.
    /// </summary>
    public static string SnapshotPrefix { get; } = FunctionName(nameof(SnapshotPrefix));

    /// <summary>
    /// ARGV[6] the version to resume after, ARGV[7] the key or prefix, ARGV[8] '1' for a prefix, ARGV[9] the most log
    /// entries to read. Returns {1, store version, entries…} with the log's entries after it that match, when the log
    /// still holds every one; {2, the last version read, entries…} when there are more to read after that version (a
    /// next call goes on from there); {0, store version} when the log does not hold them. Matched here, so that a
    /// resume carries only its own changes over the network.
    /// </summary>
    public static string Replay { get; } = FunctionName(nameof(Replay));

    /// <summary>
    /// ARGV[6] the reader's version, ARGV[7] how many entries. The master's reader's read of the log: the stamp of the
    /// entry at its version (key, kind and time, no value; none when the log lacks it), then up to that many entries
    /// after it, each [id, [field, value, …]].
    /// </summary>
    public static string ReadLog { get; } = FunctionName(nameof(ReadLog));

    /// <summary>ARGV[6] owner. Deletes its ephemeral keys (each a change) and releases its locks and waits. Returns the store version after.</summary>
    public static string ReleaseOwner { get; } = FunctionName(nameof(ReleaseOwner));

    /// <summary>
    /// ARGV[6] lock name, ARGV[7] owner, ARGV[8] the request's id (unique in the store, chosen by the master, so that a
    /// request whose answer was lost can be taken back). Returns {1, token} when granted, or {0, token} when queued:
    /// the claim "token|owner|request|name" is then published on <c>grants</c> when it is granted.
    /// </summary>
    public static string Lock { get; } = FunctionName(nameof(Lock));

    /// <summary>ARGV[6] lock name, ARGV[7] token. Releases the lock if the token holds it. Returns 1, or 0 when it does not.</summary>
    public static string Unlock { get; } = FunctionName(nameof(Unlock));

    /// <summary>
    /// ARGV[6] lock name, ARGV[7] token, ARGV[8] owner, ARGV[9] request: a waiter gives up. Returns 1 when it held
    /// the lock by then (granted meanwhile: the caller has it, and decides), 0 when it was still waiting (now out of
    /// the queue).
    /// </summary>
    public static string Abandon { get; } = FunctionName(nameof(Abandon));

    /// <summary>
    /// ARGV[6] lock name, ARGV[7] owner, ARGV[8] request: takes back a request whose answer was lost (Redis failed
    /// as it answered), whatever its token: out of the queue, or the lock passed on if it was granted. Returns 1 when
    /// it found the request, 0 when it never ran.
    /// </summary>
    public static string Forget { get; } = FunctionName(nameof(Forget));

    /// <summary>
    /// ARGV[6] master id, ARGV[7] lease in ms. Renews the lease (or takes one, for a new id); when no master had renewed
    /// for half that lease, first gives every lease that lease from now. Returns 1 when the master's lease was still
    /// held, 0 when it had run out and been reaped (or the id is new).
    /// </summary>
    public static string Renew { get; } = FunctionName(nameof(Renew));

    /// <summary>ARGV[6] master id. A master leaving in order: releases what it and its workers hold, and its lease.</summary>
    public static string Leave { get; } = FunctionName(nameof(Leave));

    /// <summary>
    /// Releases everything held by the masters whose lease has run out (their workers' locks, waits and ephemeral
    /// keys, each deletion a change), and forgets them. Returns the ids of the masters reaped.
    /// </summary>
    public static string Reap { get; } = FunctionName(nameof(Reap));

    /// <summary>
    /// ARGV[6] the writer's reader position, ARGV[7] the number of calls, ARGV[8] the budget of bytes its gets may read
    /// (-1: none), then for each call: its function's short name (<see cref="ShortName"/>), its number of arguments, and
    /// its arguments. Returns {the results of the calls run, in order (false for a call that failed), the log's entries
    /// after the position up to the batch's last change, or {}, the failures: each the failed call's index (from 1)
    /// and its message, the number of calls run: those after them were not}.
    /// </summary>
    public static string Batch { get; } = FunctionName(nameof(Batch));

    /// <summary>A function's name in a <see cref="Batch"/>: its full name without the library's.</summary>
    public static string ShortName(string function) => function[(LibraryName.Length + 1)..];

    /// <summary>The store's bounds, ARGV[1..5] of every function.</summary>
    public static RedisValue[] Bounds(SharedMemoryOptions options) =>
    [
        options.ChangeLogCapacity,
        options.ChangeLogMaxBytes,
        options.MaxEntries ?? -1,
        options.MaxBytes ?? -1,
        options.EvictionPolicy == EvictionPolicy.NoEviction ? 1 : 0,
    ];

    private static string FunctionName(string name) => $"{LibraryName}_{name}";

    private static string BuildLibrary()
    {
        // Each function's body is an entry of OPS, reading ARGV, so that a batch can run it as its function does.
        var source = new StringBuilder($"#!lua name={LibraryName}\n").Append(Prelude).Append("\nlocal OPS = {}\n");
        foreach (var (name, body) in Functions)
        {
            source.Append($"OPS['{name}'] = function()\n").Append(body).Append("\nend\n");
            source.Append($"redis.register_function('{FunctionName(name)}', function(keys, args)\n  setup(keys, args)\n  return OPS['{name}']()\nend)\n");
        }

        source.Append($"redis.register_function('{FunctionName(nameof(Batch))}', function(keys, args)\n  setup(keys, args)\n").Append(BatchBody).Append("\nend)\n");
        return source.ToString();
    }
}
