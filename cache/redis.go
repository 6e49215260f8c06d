package cache

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisMode is the kind of deployment a REDIS_URL names.
type RedisMode string

// The deployments NewRedis connects to.
const (
	RedisSingle   RedisMode = "single"   // one server: redis.NewClient
	RedisSentinel RedisMode = "sentinel" // the master that Sentinel names: redis.NewFailoverClient
	RedisCluster  RedisMode = "cluster"  // Redis Cluster: redis.NewClusterClient
)

// NewRedis returns a client for REDIS_URL with timeouts fit for a cache
// that must never slow a request down: a Redis that hangs costs a request
// at most about half a second before it reads from PostgreSQL instead.
// Timeouts given in the URL (read_timeout=...) win.
//
// The URL names one of three deployments:
//
//	redis://[user:pass@]host:6379[/db][?opts]          one server (rediss:// for TLS; unix:///path too)
//	redis://[user:pass@]h1:6379,h2:6379,h3:6379[?opts] Redis Cluster: the addresses are seed nodes
//	redis://[user:pass@]h1:6379?cluster=true           Redis Cluster from one seed node
//	redis://[user:pass@]s1:26379,s2:26379[/db]?master_name=mymaster[&sentinel_password=...]
//	                                                    Sentinel: the addresses are the sentinels
//
// go-redis's own parsers read them: redis.ParseURL (one server),
// redis.ParseClusterURL and redis.ParseFailoverURL. Their forms differ from
// these in two ways, which parseRedisURL translates: they take further
// hosts as addr=host:port options, not after commas; and ParseFailoverURL
// reads the URL's user:pass as the sentinels' credentials, where here they
// authenticate to the master and its replicas (as for the other two
// deployments) and sentinel_username / sentinel_password name the
// sentinels'. Without master_name, several addresses (or cluster=true)
// mean Redis Cluster, which has only database 0. A host without a port
// gets 6379 (26379 for a sentinel). go-redis's options (dial_timeout,
// read_timeout, pool_size, ...) apply, each where its parser accepts it;
// addr=host:port adds a host as well.
//
// The cache runs Lua scripts and MGET over several keys, which Redis
// Cluster accepts only when they share a hash slot: give such a deployment
// a key prefix with a hash tag (REDIS_PREFIX={orgpulse}:); ValidatePrefix
// checks it.
func NewRedis(rawURL string) (redis.UniversalClient, error) {
	cfg, err := ParseRedisURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch cfg.Mode {
	case RedisCluster:
		return redis.NewClusterClient(cfg.Cluster), nil
	case RedisSentinel:
		return redis.NewFailoverClient(cfg.Failover), nil
	}
	return redis.NewClient(cfg.Single), nil
}

// ClusterStateReloadInterval bounds how long a Redis Cluster client keeps
// the slot map it has: after a failover, the new master is found within it.
const ClusterStateReloadInterval = 2 * time.Second

// RedisConfig is a parsed REDIS_URL: go-redis's options for the client of
// its Mode, the only one set.
type RedisConfig struct {
	Mode     RedisMode
	Single   *redis.Options         // RedisSingle
	Cluster  *redis.ClusterOptions  // RedisCluster
	Failover *redis.FailoverOptions // RedisSentinel
}

// ParseRedisURL parses a REDIS_URL (see NewRedis), filling in the cache's
// default timeouts where the URL sets none.
func ParseRedisURL(rawURL string) (RedisConfig, error) {
	rawURL = strings.TrimSpace(rawURL)
	cfg, err := parseRedisURL(rawURL)
	if err != nil {
		return RedisConfig{}, fmt.Errorf("parse REDIS_URL: %w", withoutURL(err))
	}
	return cfg, nil
}

func parseRedisURL(rawURL string) (RedisConfig, error) {
	if strings.HasPrefix(rawURL, "unix://") {
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return RedisConfig{}, err
		}
		applyCacheTimeouts(&opt.ContextTimeoutEnabled, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.MaxRetries)
		return RedisConfig{Mode: RedisSingle, Single: opt}, nil
	}
	u, hosts, err := splitHosts(rawURL)
	if err != nil {
		return RedisConfig{}, err
	}
	q := u.Query()
	masterName := q.Get("master_name")
	clusterMode := false
	if v := q.Get("cluster"); v != "" {
		if clusterMode, err = strconv.ParseBool(v); err != nil {
			return RedisConfig{}, fmt.Errorf("cluster=%q is not a boolean", v)
		}
	}
	q.Del("cluster")
	switch {
	case masterName != "" && clusterMode:
		return RedisConfig{}, errors.New("master_name (Sentinel) and cluster=true exclude each other")
	case masterName == "" && (q.Has("sentinel_username") || q.Has("sentinel_password")):
		return RedisConfig{}, errors.New("sentinel_username/sentinel_password need master_name")
	case masterName != "":
		return parseSentinelURL(u, q, hosts)
	case len(hosts) > 1 || clusterMode:
		return parseClusterURL(u, q, hosts)
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return RedisConfig{}, err
	}
	applyCacheTimeouts(&opt.ContextTimeoutEnabled, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.MaxRetries)
	return RedisConfig{Mode: RedisSingle, Single: opt}, nil
}

// splitHosts parses a redis:// or rediss:// URL whose authority may list
// several comma-separated hosts: u is the URL with none, hosts the list.
func splitHosts(rawURL string) (u *url.URL, hosts []string, err error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || (scheme != "redis" && scheme != "rediss") {
		return nil, nil, errors.New("want redis://host:port, rediss://host:port or unix:///path (comma-separated hosts for Cluster or Sentinel)")
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@") + 1
	for _, h := range strings.Split(authority[at:], ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, nil, errors.New("no host")
	}
	u, err = url.Parse(scheme + "://" + authority[:at] + rest[len(authority):])
	return u, hosts, err
}

// parseClusterURL hands go-redis the first host as the URL's and the others
// as addr options.
func parseClusterURL(u *url.URL, q url.Values, hosts []string) (RedisConfig, error) {
	// ParseClusterURL ignores the path: refuse a database it would drop.
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		return RedisConfig{}, fmt.Errorf("a Redis Cluster has only database 0; the URL asks for %s", db)
	}
	u.Path = ""
	u.Host = withPort(hosts[0], "6379")
	for _, h := range hosts[1:] {
		q.Add("addr", withPort(h, "6379"))
	}
	u.RawQuery = q.Encode()
	o, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return RedisConfig{}, err
	}
	applyCacheTimeouts(&o.ContextTimeoutEnabled, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries)
	// go-redis reloads the slot map on MOVED or READONLY replies, and
	// otherwise every ClusterStateReloadInterval (60s by default). A master
	// that dies sends neither: the client dials the dead address until the
	// next reload, and the cache and the change feed relay stayed off Redis
	// for 38s after a failover that Redis itself finished in 4s
	// (scripts/scale-test.sh cluster). One CLUSTER SLOTS per interval and
	// replica, on demand, is cheap.
	o.ClusterStateReloadInterval = ClusterStateReloadInterval
	return RedisConfig{Mode: RedisCluster, Cluster: o}, nil
}

// parseSentinelURL moves the credentials to where ParseFailoverURL reads
// them: the URL's user:pass (the master's) into username/password options,
// sentinel_username/sentinel_password into the URL's userinfo.
func parseSentinelURL(u *url.URL, q url.Values, hosts []string) (RedisConfig, error) {
	if u.User != nil {
		if q.Has("username") || q.Has("password") {
			return RedisConfig{}, errors.New("give the master's credentials once: as user:pass@ or as username=/password= options")
		}
		if name := u.User.Username(); name != "" {
			q.Set("username", name)
		}
		if pass, ok := u.User.Password(); ok {
			q.Set("password", pass)
		}
	}
	u.User = nil
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	if sentinelPass != "" {
		u.User = url.UserPassword(sentinelUser, sentinelPass)
	} else if sentinelUser != "" {
		u.User = url.User(sentinelUser)
	}
	u.Host = withPort(hosts[0], "26379")
	for _, h := range hosts[1:] {
		q.Add("addr", withPort(h, "26379"))
	}
	u.RawQuery = q.Encode()
	o, err := redis.ParseFailoverURL(u.String())
	if err != nil {
		return RedisConfig{}, err
	}
	applyCacheTimeouts(&o.ContextTimeoutEnabled, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries)
	return RedisConfig{Mode: RedisSentinel, Failover: o}, nil
}

// withPort gives host the default port when it has none.
func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// applyCacheTimeouts fills in the timeouts the URL left unset, in any of
// go-redis's three option types.
func applyCacheTimeouts(ctxTimeouts *bool, dial, read, write, pool *time.Duration, retries *int) {
	// Without this, go-redis ignores context deadlines on commands.
	*ctxTimeouts = true
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{dial, time.Second}, {read, 500 * time.Millisecond}, {write, 500 * time.Millisecond}, {pool, time.Second}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if *retries == 0 {
		*retries = 1
	}
}

// ValidatePrefix refuses, for a Redis Cluster client, a key prefix without
// a hash tag: the cache's Lua scripts and MGETs touch several keys at once,
// which Cluster allows only within one hash slot, and only a tag ({...},
// not empty) in the prefix puts every key in the same slot. Other clients
// take any prefix.
func ValidatePrefix(rdb redis.UniversalClient, prefix string) error {
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		return nil
	}
	if open := strings.IndexByte(prefix, '{'); open >= 0 {
		if end := strings.IndexByte(prefix[open+1:], '}'); end > 0 {
			return nil
		}
	}
	return fmt.Errorf("with Redis Cluster the key prefix needs a hash tag, so that the cache's multi-key scripts stay in one slot: set REDIS_PREFIX to e.g. {orgpulse}: (it is %q)", prefix)
}

// withoutURL drops the URL that url.Parse's errors (also those go-redis's
// parsers pass on) quote, password and all.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
