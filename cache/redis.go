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
// With master_name the addresses are sentinels and the client follows the
// master they name (a FailoverClient); user:pass authenticate to the
// master and its replicas, sentinel_username / sentinel_password to the
// sentinels. Without it, several addresses (or cluster=true) mean Redis
// Cluster, which has only database 0. A host without a port gets 6379
// (26379 for a sentinel). Every option of go-redis's ParseURL
// (dial_timeout, read_timeout, pool_size, ...) applies to all three; the
// client is built by redis.NewUniversalClient.
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
	if cfg.Mode == RedisSingle {
		return redis.NewClient(cfg.Single), nil
	}
	return redis.NewUniversalClient(cfg.Universal), nil
}

// RedisConfig is a parsed REDIS_URL.
type RedisConfig struct {
	Mode RedisMode
	// Single is set for RedisSingle: go-redis's own options for the URL.
	Single *redis.Options
	// Universal is set for RedisSentinel and RedisCluster:
	// redis.NewUniversalClient builds the client of that kind from it.
	Universal *redis.UniversalOptions
}

// ParseRedisURL parses a REDIS_URL (see NewRedis), filling in the cache's
// default timeouts where the URL sets none.
func ParseRedisURL(rawURL string) (RedisConfig, error) {
	cfg, err := parseRedisURL(strings.TrimSpace(rawURL))
	if err != nil {
		return RedisConfig{}, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	return cfg, nil
}

func parseRedisURL(rawURL string) (RedisConfig, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if ok && scheme == "unix" {
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return RedisConfig{}, err
		}
		applyCacheTimeouts(opt)
		return RedisConfig{Mode: RedisSingle, Single: opt}, nil
	}
	if !ok || (scheme != "redis" && scheme != "rediss") {
		return RedisConfig{}, fmt.Errorf("want redis://host:port, rediss://host:port or unix:///path (comma-separated hosts for Cluster or Sentinel), got %q", redact(rawURL))
	}
	// rest = [userinfo@]host[,host...][/db][?query]
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostList := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostList = authority[:i+1], authority[i+1:]
	}
	var hosts []string
	for _, h := range strings.Split(hostList, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return RedisConfig{}, fmt.Errorf("no host in %q", redact(rawURL))
	}

	// Take out the options of our own, which go-redis's parser refuses.
	path, query, _ := strings.Cut(tail, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return RedisConfig{}, err
	}
	masterName := q.Get("master_name")
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	clusterMode := false
	if v := q.Get("cluster"); v != "" {
		if clusterMode, err = strconv.ParseBool(v); err != nil {
			return RedisConfig{}, fmt.Errorf("cluster=%q is not a boolean", v)
		}
	}
	for _, k := range []string{"master_name", "sentinel_username", "sentinel_password", "cluster"} {
		q.Del(k)
	}
	if masterName == "" && (sentinelUser != "" || sentinelPass != "") {
		return RedisConfig{}, errors.New("sentinel_username/sentinel_password need master_name")
	}
	if masterName != "" && clusterMode {
		return RedisConfig{}, errors.New("master_name (Sentinel) and cluster=true exclude each other")
	}

	// go-redis parses the rest (credentials, db, timeouts, pool, TLS) in
	// its single-server form with the first host.
	single := scheme + "://" + userinfo + hosts[0] + path
	if enc := q.Encode(); enc != "" {
		single += "?" + enc
	}
	opt, err := redis.ParseURL(single)
	if err != nil {
		return RedisConfig{}, errors.New(strings.ReplaceAll(err.Error(), single, redact(single)))
	}
	applyCacheTimeouts(opt)

	var mode RedisMode
	switch {
	case masterName != "":
		mode = RedisSentinel
	case len(hosts) > 1 || clusterMode:
		mode = RedisCluster
		if opt.DB != 0 {
			return RedisConfig{}, fmt.Errorf("a Redis Cluster has only database 0; the URL asks for %d", opt.DB)
		}
	default:
		return RedisConfig{Mode: RedisSingle, Single: opt}, nil
	}
	addrs := make([]string, len(hosts))
	for i, h := range hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defaultPort(mode))
		}
		addrs[i] = h
	}
	return RedisConfig{Mode: mode, Universal: &redis.UniversalOptions{
		Addrs:                   addrs,
		IsClusterMode:           mode == RedisCluster,
		MasterName:              masterName,
		SentinelUsername:        sentinelUser,
		SentinelPassword:        sentinelPass,
		ClientName:              opt.ClientName,
		DB:                      opt.DB,
		Protocol:                opt.Protocol,
		Username:                opt.Username,
		Password:                opt.Password,
		MaxRetries:              opt.MaxRetries,
		MinRetryBackoff:         opt.MinRetryBackoff,
		MaxRetryBackoff:         opt.MaxRetryBackoff,
		DialTimeout:             opt.DialTimeout,
		DialerRetries:           opt.DialerRetries,
		DialerRetryTimeout:      opt.DialerRetryTimeout,
		ReadTimeout:             opt.ReadTimeout,
		WriteTimeout:            opt.WriteTimeout,
		ContextTimeoutEnabled:   opt.ContextTimeoutEnabled,
		PipelineReadBufferSize:  opt.PipelineReadBufferSize,
		PipelineWriteBufferSize: opt.PipelineWriteBufferSize,
		PipelinePoolSize:        opt.PipelinePoolSize,
		PoolFIFO:                opt.PoolFIFO,
		PoolSize:                opt.PoolSize,
		MaxConcurrentDials:      opt.MaxConcurrentDials,
		PoolTimeout:             opt.PoolTimeout,
		MinIdleConns:            opt.MinIdleConns,
		MaxIdleConns:            opt.MaxIdleConns,
		MaxActiveConns:          opt.MaxActiveConns,
		ConnMaxIdleTime:         opt.ConnMaxIdleTime,
		ConnMaxLifetime:         opt.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   opt.ConnMaxLifetimeJitter,
		TLSConfig:               opt.TLSConfig,
		DisableIdentity:         opt.DisableIdentity,
		IdentitySuffix:          opt.IdentitySuffix,
		UnstableResp3:           opt.UnstableResp3,
	}}, nil
}

// applyCacheTimeouts fills in the timeouts the URL left unset.
func applyCacheTimeouts(opt *redis.Options) {
	// Without this, go-redis ignores context deadlines on commands.
	opt.ContextTimeoutEnabled = true
	if opt.DialTimeout == 0 {
		opt.DialTimeout = time.Second
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = 500 * time.Millisecond
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = 500 * time.Millisecond
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = time.Second
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
	}
}

func defaultPort(mode RedisMode) string {
	if mode == RedisSentinel {
		return "26379"
	}
	return "6379"
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

// redact hides the password of a URL in error messages.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			return raw[:j+3] + "xxxxx" + raw[i:]
		}
	}
	return raw
}
