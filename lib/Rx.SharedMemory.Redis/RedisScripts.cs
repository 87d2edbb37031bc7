using StackExchange.Redis;

namespace Rx.SharedMemory.Redis;

/// <summary>
/// The engine's operations as Lua scripts: each runs atomically in Redis, so a change, its value, its version, its log
/// entry and its notification commit together, whichever master sends it.
/// </summary>
/// <remarks>
/// <para>KEYS[1] is the store's hash tag, <c>{name}</c>: every key the scripts touch starts with it, so that a store lives
/// in one Redis Cluster slot. ARGV[1..5] are the store's bounds (<see cref="Bounds"/>); an operation's own arguments follow.</para>
/// <para>The layout, under the tag: <c>version</c> (the counter), <c>values</c> and <c>meta</c> (hashes: key to value, and
/// to "version,timestamp"), <c>keys</c> (sorted set of keys, for prefixes), <c>lru</c> (sorted set by last use),
/// <c>uses</c> (the use counter), <c>bytes</c>, <c>deadlines</c> (sorted set by expiry, Unix ms), <c>owners</c> (hash:
/// ephemeral key to owner), <c>log</c> (the change log, a stream whose entry ids are the versions), <c>logbytes</c>,
/// <c>changes</c> (the channel that wakes the masters' readers), <c>locks</c>, <c>lockq:</c>name, <c>lockqueues</c>,
/// <c>locktokens</c>, <c>grants</c> (a channel), <c>masters</c> (hash: master id to lease deadline), <c>masterids</c>.</para>
/// <para>Times are Redis's own (<c>TIME</c>), so every master agrees on them. Results are arrays whose first element is 0,
/// or a negative code: -1 a bound refused the write (name, limit, actual), -2 the value is not an integer, -3 an
/// increment overflows.</para>
/// </remarks>
internal static class RedisScripts
{
    /// <summary>The numbers of <see cref="KeyChangeKind"/> as the log stores them.</summary>
    private const string Prelude = """
        local P = KEYS[1] .. ':'
        local SET, DELETED, EXPIRED, EVICTED = 0, 1, 2, 3
        local LOG_CAPACITY, LOG_MAX_BYTES = tonumber(ARGV[1]), tonumber(ARGV[2])
        local MAX_ENTRIES, MAX_BYTES, NO_EVICTION = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'

        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        local function entry_size(fields)
          local size = 32
          for i = 1, #fields, 2 do
            if fields[i] == 'k' or fields[i] == 'v' then size = size + #fields[i + 1] end
          end
          return size
        end

        -- The one commit path: the next version, the log entry, its trimming, and the readers' wake-up. trace is the
        -- W3C traceparent the change carries ('' or nil for none).
        local function commit(key, kind, value, now, deadline, trace)
          local v = redis.call('INCR', P .. 'version')
          local fields = {'k', key, 't', kind, 's', now}
          if value then fields[#fields + 1] = 'v'; fields[#fields + 1] = value end
          if deadline > 0 then fields[#fields + 1] = 'd'; fields[#fields + 1] = deadline end
          if trace and trace ~= '' then fields[#fields + 1] = 'p'; fields[#fields + 1] = trace end
          redis.call('XADD', P .. 'log', v .. '-0', unpack(fields))
          local logbytes = redis.call('INCRBY', P .. 'logbytes', entry_size(fields))
          local length = redis.call('XLEN', P .. 'log')
          while length > 1 and (length > LOG_CAPACITY or logbytes > LOG_MAX_BYTES) do
            local oldest = redis.call('XRANGE', P .. 'log', '-', '+', 'COUNT', 1)[1]
            redis.call('XDEL', P .. 'log', oldest[1])
            logbytes = redis.call('DECRBY', P .. 'logbytes', entry_size(oldest[2]))
            length = length - 1
          end
          redis.call('PUBLISH', P .. 'changes', v)
          return v
        end

        -- Removes a key; only a deletion a caller asked for passes a trace, never an expiry, eviction or release.
        local function remove(key, kind, now, trace)
          local value = redis.call('HGET', P .. 'values', key)
          if not value then return 0 end
          redis.call('HDEL', P .. 'values', key)
          redis.call('HDEL', P .. 'meta', key)
          redis.call('ZREM', P .. 'keys', key)
          redis.call('ZREM', P .. 'lru', key)
          redis.call('ZREM', P .. 'deadlines', key)
          redis.call('HDEL', P .. 'owners', key)
          redis.call('DECRBY', P .. 'bytes', #key + #value)
          return commit(key, kind, nil, now, 0, trace)
        end

        -- A key's value, expiring it first when its deadline has passed and the expiry pass has not come round yet.
        local function find(key, now)
          local deadline = redis.call('ZSCORE', P .. 'deadlines', key)
          if deadline and tonumber(deadline) <= now then
            remove(key, EXPIRED, now)
            return nil
          end
          return redis.call('HGET', P .. 'values', key)
        end

        local function exceeded(entries, bytes)
          return (MAX_ENTRIES >= 0 and entries > MAX_ENTRIES) or (MAX_BYTES >= 0 and bytes > MAX_BYTES)
        end

        -- Evicts least recently used keys (never the key written) so that the write fits; or the bound it breaks.
        local function make_room(key, old, size, now)
          if MAX_BYTES >= 0 and size > MAX_BYTES then return {-1, 'MaxBytes', MAX_BYTES, size} end
          local entries = redis.call('HLEN', P .. 'values') + (old and 0 or 1)
          local bytes = tonumber(redis.call('GET', P .. 'bytes') or '0') - (old and (#key + #old) or 0) + size
          if not exceeded(entries, bytes) then return nil end
          if NO_EVICTION then
            if MAX_ENTRIES >= 0 and entries > MAX_ENTRIES then return {-1, 'MaxEntries', MAX_ENTRIES, entries} end
            return {-1, 'MaxBytes', MAX_BYTES, bytes}
          end
          while exceeded(entries, bytes) do
            local oldest = redis.call('ZRANGE', P .. 'lru', 0, 1)
            local victim = oldest[1]
            if victim == key then victim = oldest[2] end
            if not victim then break end
            local value = redis.call('HGET', P .. 'values', victim)
            entries = entries - 1
            bytes = bytes - (#victim + #value)
            remove(victim, EVICTED, now)
          end
          return nil
        end

        local function touch(key)
          redis.call('ZADD', P .. 'lru', redis.call('INCR', P .. 'uses'), key)
        end

        -- Writes a value found as old (nil: absent); ttl in ms (0: none), owner '' for none, trace the traceparent its
        -- change carries ('' for none). Returns {0, version} or a refusal.
        local function write(key, value, old, ttl, owner, now, trace)
          local size = #key + #value
          local refused = make_room(key, old, size, now)
          if refused then return refused end
          local deadline = 0
          if ttl > 0 then deadline = now + ttl end
          local v = commit(key, SET, value, now, deadline, trace)
          redis.call('HSET', P .. 'values', key, value)
          redis.call('HSET', P .. 'meta', key, v .. ',' .. now)
          redis.call('ZADD', P .. 'keys', 0, key)
          redis.call('INCRBY', P .. 'bytes', size - (old and (#key + #old) or 0))
          touch(key)
          if deadline > 0 then
            redis.call('ZADD', P .. 'deadlines', deadline, key)
          else
            redis.call('ZREM', P .. 'deadlines', key)
          end
          if owner ~= '' then
            redis.call('HSET', P .. 'owners', key, owner)
          else
            redis.call('HDEL', P .. 'owners', key)
          end
          return {0, v}
        end

        -- The log's entries after the writer's reader position (the last argument) up to v, so that its master hands
        -- them out without reading the log: {} when they are many, large, or trimmed (the reader reads them then).
        -- Few: the writes in flight together would each carry the same entries again.
        local function since(v)
          local from = tonumber(ARGV[#ARGV])
          if not from or from < 0 or v - from > 8 then return {} end
          local entries = redis.call('XRANGE', P .. 'log', (from + 1) .. '-0', v .. '-0')
          if #entries == 0 or entries[1][1] ~= (from + 1) .. '-0' then return {} end
          local size = 0
          for _, e in ipairs(entries) do size = size + entry_size(e[2]) end
          if size > 16384 then return {} end
          return entries
        end

        local function meta(key)
          local m = redis.call('HGET', P .. 'meta', key)
          local version, stamp = string.match(m, '(%d+),(%d+)')
          return tonumber(version), tonumber(stamp)
        end

        local function current_version()
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

    /// <summary>ARGV[6] key, ARGV[7] whether a read counts as a use. Returns {} when absent, or {value, version, timestamp}.</summary>
    public const string Get = Prelude + """
        local key = ARGV[6]
        local value = find(key, now_ms())
        if not value then return {} end
        if ARGV[7] == '1' then touch(key) end
        local version, stamp = meta(key)
        return {value, version, stamp}
        """;

    /// <summary>
    /// ARGV[6] key, ARGV[7] value, ARGV[8] time to live in ms (0: none), ARGV[9] owner ('' for none), ARGV[10] the
    /// traceparent its change carries ('' for none), ARGV[11] the writer's reader position. Returns {0, version, the
    /// log's entries after that position}.
    /// </summary>
    public const string Set = Prelude + """
        local now = now_ms()
        local key = ARGV[6]
        local written = write(key, ARGV[7], find(key, now), tonumber(ARGV[8]), ARGV[9], now, ARGV[10])
        if written[1] ~= 0 then return written end
        return {0, written[2], since(written[2])}
        """;

    /// <summary>
    /// As <see cref="Set"/>, with ARGV[10] the expected version (0: absent), ARGV[11] the traceparent and ARGV[12] the
    /// reader position. Returns {0, 1, version, entries} or {0, 0, current version}.
    /// </summary>
    public const string CompareAndSet = Prelude + """
        local now = now_ms()
        local key = ARGV[6]
        local old = find(key, now)
        local current = 0
        if old then current = meta(key) end
        if current ~= tonumber(ARGV[10]) then return {0, 0, current} end
        local written = write(key, ARGV[7], old, tonumber(ARGV[8]), ARGV[9], now, ARGV[11])
        if written[1] ~= 0 then return written end
        return {0, 1, written[2], since(written[2])}
        """;

    /// <summary>
    /// ARGV[6] key, ARGV[7] delta, ARGV[8] the traceparent its change carries ('' for none), ARGV[9] the reader
    /// position. The sum is Redis's own 64-bit INCRBY on a scratch key
    /// (Lua's numbers are doubles): exact, and refused on overflow. Keeps the key's deadline and owner. Returns
    /// {0, new value, version, entries}.
    /// </summary>
    public const string Increment = Prelude + """
        local now = now_ms()
        local key = ARGV[6]
        local old = find(key, now)
        local scratch = P .. 'scratch'
        redis.call('SET', scratch, old or '0')
        local sum = redis.pcall('INCRBY', scratch, ARGV[7])
        local next = redis.call('GET', scratch)
        redis.call('DEL', scratch)
        if type(sum) == 'table' and sum.err then
          if string.find(sum.err, 'overflow') then return {-3, old} end
          return {-2, string.sub(old, 1, 64)}
        end
        local ttl = 0
        local deadline = redis.call('ZSCORE', P .. 'deadlines', key)
        if deadline then ttl = math.max(1, tonumber(deadline) - now) end
        local owner = redis.call('HGET', P .. 'owners', key) or ''
        local written = write(key, next, old, ttl, owner, now, ARGV[8])
        if written[1] ~= 0 then return written end
        return {0, next, written[2], since(written[2])}
        """;

    /// <summary>
    /// ARGV[6] key, ARGV[7] the traceparent its change carries ('' for none), ARGV[8] the reader position. Returns
    /// {the version of the deletion (0 when the key was absent), entries}.
    /// </summary>
    public const string Delete = Prelude + """
        local now = now_ms()
        local key = ARGV[6]
        if not find(key, now) then return {0, {}} end
        local v = remove(key, DELETED, now, ARGV[7])
        return {v, since(v)}
        """;

    /// <summary>Expires what is due. Returns {next deadline or -1, Redis's time now}.</summary>
    public const string ExpireDue = Prelude + """
        local now = now_ms()
        return {expire_due(now), now}
        """;

    /// <summary>Returns {keys, bytes, the change log's length}: what the master's instruments report of the store.</summary>
    public const string Size = Prelude + """
        return {redis.call('HLEN', P .. 'values'), tonumber(redis.call('GET', P .. 'bytes') or '0'), redis.call('XLEN', P .. 'log')}
        """;

    /// <summary>ARGV[6] key. Returns {store version, value or false, version, timestamp}: the key's state at one version.</summary>
    public const string SnapshotKey = Prelude + """
        local now = now_ms()
        local key = ARGV[6]
        local value = find(key, now)
        if not value then return {current_version(), false, 0, now} end
        local version, stamp = meta(key)
        return {current_version(), value, version, stamp}
        """;

    /// <summary>ARGV[6] prefix. Returns {store version, now, key, value, version, timestamp, …}: the prefix's state at one version.</summary>
    public const string SnapshotPrefix = Prelude + """
        local now = now_ms()
        expire_due(now)
        local prefix = ARGV[6]
        local keys
        if prefix == '' then
          keys = redis.call('ZRANGE', P .. 'keys', 0, -1)
        else
          keys = redis.call('ZRANGEBYLEX', P .. 'keys', '[' .. prefix, '(' .. prefix .. '\255')
        end
        local result = {current_version(), now}
        for _, key in ipairs(keys) do
          local version, stamp = meta(key)
          result[#result + 1] = key
          result[#result + 1] = redis.call('HGET', P .. 'values', key)
          result[#result + 1] = version
          result[#result + 1] = stamp
        end
        return result
        """;

    /// <summary>
    /// ARGV[6] the version to resume after, ARGV[7] the key or prefix, ARGV[8] '1' for a prefix. Returns {1, store
    /// version, entries…} with the log's entries after it that match, when the log still holds every one; {0, store
    /// version} when it does not. Matched here, so that a resume carries only its own changes over the network.
    /// </summary>
    public const string Replay = Prelude + """
        local after, filter, prefix = tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1'
        local version = current_version()
        if after == version then return {1, version} end
        -- Past the store's version: a state the store lost (a replica promoted before it had every write); a Reset.
        if after > version then return {0, version} end
        local oldest = redis.call('XRANGE', P .. 'log', '-', '+', 'COUNT', 1)[1]
        if not oldest or tonumber(string.match(oldest[1], '^(%d+)')) > after + 1 then return {0, version} end
        local result = {1, version}
        for _, entry in ipairs(redis.call('XRANGE', P .. 'log', (after + 1) .. '-0', '+')) do
          local key = entry[2][2]
          if (prefix and starts_with(key, filter)) or key == filter then result[#result + 1] = entry end
        end
        return result
        """;

    /// <summary>ARGV[6] owner. Deletes its ephemeral keys (each a change) and releases its locks and waits. Returns the store version after.</summary>
    public const string ReleaseOwner = Prelude + """
        local owner = ARGV[6]
        release_owners(function(o) return o == owner end, now_ms())
        return current_version()
        """;

    /// <summary>
    /// ARGV[6] lock name, ARGV[7] owner, ARGV[8] the request's id (unique in the store, chosen by the master, so that a
    /// request whose answer was lost can be taken back). Returns {1, token} when granted, or {0, token} when queued:
    /// the claim "token|owner|request|name" is then published on <c>grants</c> when it is granted.
    /// </summary>
    public const string Lock = Prelude + """
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
        """;

    /// <summary>ARGV[6] lock name, ARGV[7] token. Releases the lock if the token holds it. Returns 1, or 0 when it does not.</summary>
    public const string Unlock = Prelude + """
        local name, token = ARGV[6], ARGV[7]
        local holder = redis.call('HGET', P .. 'locks', name)
        if not holder or not starts_with(holder, token .. '|') then return 0 end
        pass_lock(name)
        return 1
        """;

    /// <summary>
    /// ARGV[6] lock name, ARGV[7] token, ARGV[8] owner, ARGV[9] request: a waiter gives up. Returns 1 when it held
    /// the lock by then (granted meanwhile: the caller has it, and decides), 0 when it was still waiting (now out of
    /// the queue).
    /// </summary>
    public const string Abandon = Prelude + """
        local name, token, owner = ARGV[6], ARGV[7], ARGV[8]
        local claim = token .. '|' .. owner .. '|' .. ARGV[9] .. '|' .. name
        if redis.call('HGET', P .. 'locks', name) == claim then return 1 end
        redis.call('LREM', P .. 'lockq:' .. name, 0, claim)
        if redis.call('LLEN', P .. 'lockq:' .. name) == 0 then redis.call('SREM', P .. 'lockqueues', name) end
        return 0
        """;

    /// <summary>
    /// ARGV[6] lock name, ARGV[7] owner, ARGV[8] request: takes back a request whose answer was lost (Redis failed
    /// as it answered), whatever its token: out of the queue, or the lock passed on if it was granted. Returns 1 when
    /// it found the request, 0 when it never ran.
    /// </summary>
    public const string Forget = Prelude + """
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
        """;

    /// <summary>
    /// ARGV[6] master id (0: a new one), ARGV[7] lease in ms. Renews the lease. Returns {the master's id, 1 when its
    /// lease was still held, 0 when it had run out and been reaped (or the id is new)}.
    /// </summary>
    public const string Renew = Prelude + """
        local id = tonumber(ARGV[6])
        if id == 0 then id = redis.call('INCR', P .. 'masterids') end
        local held = redis.call('HEXISTS', P .. 'masters', id)
        redis.call('HSET', P .. 'masters', id, now_ms() + tonumber(ARGV[7]))
        return {id, held}
        """;

    /// <summary>ARGV[6] master id. A master leaving in order: releases what it and its workers hold, and its lease.</summary>
    public const string Leave = Prelude + """
        local prefix = 'm' .. ARGV[6] .. '/'
        release_owners(function(o) return o ~= nil and starts_with(o, prefix) end, now_ms())
        redis.call('HDEL', P .. 'masters', ARGV[6])
        return current_version()
        """;

    /// <summary>
    /// Releases everything held by the masters whose lease has run out (their workers' locks, waits and ephemeral
    /// keys, each deletion a change), and forgets them. Returns the ids of the masters reaped.
    /// </summary>
    public const string Reap = Prelude + """
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
        """;

    /// <summary>The store's bounds, ARGV[1..5] of every script.</summary>
    public static RedisValue[] Bounds(SharedMemoryOptions options) =>
    [
        options.ChangeLogCapacity,
        options.ChangeLogMaxBytes,
        options.MaxEntries ?? -1,
        options.MaxBytes ?? -1,
        options.EvictionPolicy == EvictionPolicy.NoEviction ? 1 : 0,
    ];
}
