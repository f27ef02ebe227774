<?php
/**
 * PHP's own session functions on a sessionserver daemon.
 *
 *     require 'SessionServerHandler.php';
 *     session_set_save_handler(new SessionServerHandler('127.0.0.1:9090'), true);
 *     session_start();
 *
 * Each key of $_SESSION is stored as one JSON value, the encoding the Python adapters use, so
 * that PHP pages and Python apps read each other's keys; a stored value that is not JSON reads
 * as its text. PHP hands a save handler the whole session in its serialize_handler format, so
 * the handler sets session.serialize_handler=php_serialize (plain serialize() of the array)
 * and converts between that and the per-key values. It also sets session.use_strict_mode=1:
 * ids come from the server (create_sid), and a cookie with an id the server does not know gets
 * a fresh session (with strict mode turned off, that session_start() fails instead: the
 * server never adopts an id it did not issue).
 *
 * PHP's locking is kept: session_start() takes the session's write lock on the server and
 * session_write_close() (or the end of the request) releases it;
 * session_start(['read_and_close' => true]) reads without locking. A save sends only the keys
 * that changed or went. Failures are PHP warnings and false returns, never exceptions (only
 * the constructor throws, for a malformed address or an unknown option).
 */

declare(strict_types=1);

require_once __DIR__ . '/SessionServerConnection.php';

final class SessionServerHandler implements
    SessionHandlerInterface,
    SessionIdInterface,
    SessionUpdateTimestampHandlerInterface
{
    private const OPTIONS = ['token', 'timeout', 'lock_timeout', 'tls', 'gc'];
    private const UNKNOWN_ID = 'Could not open session.';
    private const NO_SESSION = 'No session opened.';
    private const MAX_TTL = 315360000; // the server's: ten years
    private const JSON = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION;

    private SessionServerConnection $server;
    private float $lockTimeout;
    private bool $gc;
    /** The id open (and locked) on the connection, if any. */
    private ?string $openId = null;
    /** An id create_sid() just got with `new`: open, empty, not read yet. */
    private ?string $newId = null;
    /** Ids read() must fail: the server could not be asked about them (or issue them). */
    private array $unreadable = [];
    /** The id and decoded values read() returned: a save sends what differs. */
    private ?string $loadedId = null;
    private array $loaded = [];

    /**
     * @param string $address host:port, [v6]:port, tcp://host:port or tls://host:port.
     * @param array $options token (default: $SESSIONSERVER_AUTH_TOKEN); timeout (seconds for
     *     connecting and for each reply, default 5); lock_timeout (how long session_start()
     *     waits for a session another request holds, default 30; the server's --lock-timeout
     *     may end the wait sooner); tls (true, or SSL context options: cafile, local_cert,
     *     local_pk, peer_name, verify_peer...); gc (let PHP's gc delete every session idle
     *     longer than session.gc_maxlifetime; default false: the server expires each session
     *     at the end of its own lifetime, which may be longer if a Python app set it).
     * @throws InvalidArgumentException for a malformed address or an unknown option.
     */
    public function __construct(
        string $address = '127.0.0.1:9090',
        #[\SensitiveParameter] array $options = []
    ) {
        $unknown = array_diff(array_keys($options), self::OPTIONS);
        if ($unknown) {
            throw new InvalidArgumentException('unknown option: ' . implode(', ', $unknown));
        }
        $token = $options['token'] ?? getenv('SESSIONSERVER_AUTH_TOKEN');
        $this->server = new SessionServerConnection(
            $address,
            is_string($token) && $token !== '' ? $token : null,
            (float) ($options['timeout'] ?? 5.0),
            $options['tls'] ?? null
        );
        $this->lockTimeout = (float) ($options['lock_timeout'] ?? 30.0);
        $this->gc = (bool) ($options['gc'] ?? false);
        if (session_status() !== PHP_SESSION_ACTIVE) {
            foreach (['serialize_handler' => 'php_serialize', 'use_strict_mode' => '1'] as $k => $v) {
                if (ini_get("session.$k") !== $v) {
                    ini_set("session.$k", $v);
                }
            }
        }
    }

    public function open(string $path, string $name): bool
    {
        if (ini_get('session.serialize_handler') !== 'php_serialize') {
            return $this->fail('needs session.serialize_handler=php_serialize '
                . '(construct the handler, or set it, before session_start())');
        }
        return $this->attempt(function (): bool {
            $this->server->connect();
            return true;
        });
    }

    public function close(): bool
    {
        // Still open: read_and_close of a new id, session_abort(), or a save that failed.
        $this->loadedId = $this->newId = null;
        $this->loaded = [];
        return $this->openId === null || $this->attempt(fn () => $this->release('abort'));
    }

    public function create_sid(): string
    {
        $lifetime = (int) ini_get('session.gc_maxlifetime');
        // The lifetime goes with the session: later saves, from PHP or Python, keep it.
        $ttl = $lifetime >= 1 ? [(string) min($lifetime, self::MAX_TTL)] : [];
        $id = $this->attempt(function () use ($ttl) {
            if ($this->openId !== null) {
                // session_create_id() in an active session: leave that session open.
                return $this->server->call([['create', ...$ttl]])[0];
            }
            // The usual case: `new` opens and locks it, so read() has nothing to fetch.
            [$id] = $this->server->call([['new'], ...($ttl ? [['ttl', $ttl[0]]] : [])]);
            return $this->openId = $this->newId = $id;
        });
        if ($id === false) {
            // Returning false makes PHP throw an Error; an id no server knows fails at read().
            $id = bin2hex(random_bytes(16));
            $this->unreadable[$id] = true;
        }
        return $id;
    }

    public function validateId(string $id): bool
    {
        if (self::calledFrom('session_regenerate_id') !== null
            || self::calledFrom('session_create_id') !== null) {
            // A collision check after create_sid(): the server never issues an id twice.
            return false;
        }
        // A cookie's id (session_start(), session_reset()), which PHP reads right after
        // validating: load now, one round trip for both.
        $found = $this->attempt(fn () => $this->load($id) ? 'found' : 'unknown');
        if ($found === false) {
            // Not known to be unknown (a lock wait timed out, the server is away): keep the
            // id, so the user keeps the session; read() then fails and session_start() too.
            $this->unreadable[$id] = true;
            return true;
        }
        return $found === 'found';
    }

    public function read(string $id): string|false
    {
        if (isset($this->unreadable[$id])) {
            unset($this->unreadable[$id]);
            // session_regenerate_id() throws if read fails: go on empty; the save will fail.
            return self::calledFrom('session_regenerate_id') !== null ? '' : false;
        }
        if ($id === $this->newId) {
            $this->newId = null;
            $this->loadedId = $id;
            $this->loaded = [];
        } elseif ($this->loadedId !== $id) {
            $found = $this->attempt(fn () => $this->load($id) ? 'found' : 'unknown');
            if ($found === false) {
                return false;
            }
            if ($found === 'unknown' && !ini_get('session.use_strict_mode')) {
                // Only strict mode lets PHP replace an id the server does not know.
                return $this->fail('the server does not know the session id, and '
                    . 'session.use_strict_mode=0 keeps PHP from replacing it');
            }
            // Otherwise it expired since validateId(): empty, and not saved (it is not open).
        }
        return $this->loaded ? serialize($this->loaded) : '';
    }

    public function write(string $id, string $data): bool
    {
        if ($this->openId !== $id) {
            return $this->fail('cannot save: the session is not open on the server '
                . '(it expired or was destroyed meanwhile)');
        }
        // PHP serialized $_SESSION a moment ago: its objects are the application's own.
        $values = $data === '' ? [] : unserialize($data);
        if (!is_array($values)) {
            return $this->fail('cannot save: the data is not in php_serialize format');
        }
        $commands = [];
        foreach ($values as $key => $value) {
            if (array_key_exists($key, $this->loaded) && $this->loaded[$key] === $value) {
                continue;
            }
            $problem = self::unstorable($value);
            $json = $problem === null ? json_encode($value, self::JSON) : false;
            if ($json === false) {
                $problem ??= json_last_error_msg();
                return $this->fail("cannot save \$_SESSION['$key']: $problem");
            }
            $commands[] = ['put', (string) $key, $json];
        }
        foreach (array_diff_key($this->loaded, $values) as $key => $_) {
            $commands[] = ['remove', (string) $key];
        }
        return $this->attempt(function () use ($commands): bool {
            // The changes first, then `close` saves them: an error on any (a limit, a lost
            // lock) aborts them all, so a save is whole or not at all.
            $this->server->call($commands);
            return $this->release('close');
        });
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        // Unchanged: `close` only unlocks; the open in read() already restarted the lifetime.
        if ($this->openId !== $id) {
            return $this->fail('cannot refresh: the session is not open on the server');
        }
        return $this->attempt(fn () => $this->release('close'));
    }

    public function destroy(string $id): bool
    {
        return $this->attempt(function () use ($id): bool {
            $commands = $this->openId === $id ? [['destroy']] : [['open', $id, 'w'], ['destroy']];
            $this->openId = null;
            // Already gone counts as destroyed.
            $this->server->call($commands, $this->lockTimeout, self::UNKNOWN_ID, self::NO_SESSION);
            return true;
        });
    }

    public function gc(int $max_lifetime): int|false
    {
        if (!$this->gc) {
            return 0;
        }
        $idle = (string) max(0, $max_lifetime);
        return $this->attempt(fn () => $this->server->call([['gc', $idle]])[0]);
    }

    /** The connection, for debugging: never the token. */
    public function __debugInfo(): array
    {
        return ['server' => $this->server, 'open' => $this->openId !== null];
    }

    /**
     * Fetch a session into $this->loaded, locking it unless session_start() was asked to
     * read_and_close; false if the server does not know the id.
     */
    private function load(string $id): bool
    {
        $this->loadedId = null;
        $this->loaded = [];
        $options = self::calledFrom('session_start');
        if (is_array($options) && !empty($options['read_and_close'])) {
            [$pairs] = $this->server->call([['read', $id]], null, self::UNKNOWN_ID);
        } else {
            // `open` closes whatever was open; should anything fail once it is open, attempt()
            // aborts it.
            $this->openId = $id;
            [$opened, $pairs] = $this->server->call(
                [['open', $id, 'w'], ['get_all']], $this->lockTimeout, self::UNKNOWN_ID, self::NO_SESSION
            );
            $this->openId = $opened === true ? $id : null;
        }
        if (!is_array($pairs)) {
            return false;
        }
        for ($i = 0, $n = count($pairs); $i + 1 < $n; $i += 2) {
            $value = json_decode($pairs[$i + 1], true, 512, JSON_BIGINT_AS_STRING);
            $json = $value !== null || json_last_error() === JSON_ERROR_NONE;
            $this->loaded[$pairs[$i]] = $json ? $value : $pairs[$i + 1];
        }
        $this->loadedId = $id;
        return true;
    }

    /** End the open session with `close` (save) or `abort` (drop); true on success. */
    private function release(string $how): bool
    {
        try {
            $this->server->call([[$how]]);
        } finally {
            $this->openId = null;
        }
        return true;
    }

    /** Why a value has no JSON form that reads back as it went in, or null. */
    private static function unstorable(mixed $value): ?string
    {
        if (is_object($value) && !$value instanceof stdClass && !$value instanceof JsonSerializable) {
            return 'an object of class ' . get_class($value) . ' has no JSON form '
                . '(store arrays and scalars, or implement JsonSerializable)';
        }
        if (is_array($value) || $value instanceof stdClass) {
            foreach ((array) $value as $inner) {
                $problem = self::unstorable($inner);
                if ($problem !== null) {
                    return $problem;
                }
            }
        }
        return null;
    }

    /**
     * The first argument of the PHP function running the handler, if it is $function (null
     * if not): the interface does not say whether session_start() was asked to
     * read_and_close, nor whether validateId() is asked of a cookie or of a fresh id.
     */
    private static function calledFrom(string $function): mixed
    {
        foreach (debug_backtrace(0, 10) as $frame) {
            if ($frame['function'] === $function && !isset($frame['class'])) {
                return $frame['args'][0] ?? [];
            }
        }
        return null;
    }

    /** Run $step; a failure becomes a warning and false, as PHP's own handlers report it. */
    private function attempt(callable $step): mixed
    {
        try {
            return $step();
        } catch (SessionServerError $e) {
            if (!$this->server->connected()) {
                $this->openId = $this->newId = null; // the server dropped the lock with it
            } elseif ($this->openId !== null) {
                try {
                    $this->release('abort'); // unlock now, not at the end of the request
                } catch (SessionServerError) {
                }
            }
            return $this->fail($e->getMessage());
        }
    }

    private function fail(string $message): bool
    {
        trigger_error("SessionServerHandler: $message", E_USER_WARNING);
        return false;
    }
}
