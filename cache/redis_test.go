package cache_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/cache"
)

// These tests only parse URLs and build clients: go-redis connects lazily,
// so no Redis, Sentinel or Cluster is needed.

func TestParseRedisURLSingle(t *testing.T) {
	cfg, err := cache.ParseRedisURL("redis://:secret@127.0.0.1:56379/3?pool_size=7")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != cache.RedisSingle || cfg.Single == nil || cfg.Cluster != nil || cfg.Failover != nil {
		t.Fatalf("mode %q, want single options only: %+v", cfg.Mode, cfg)
	}
	o := cfg.Single
	if o.Addr != "127.0.0.1:56379" || o.DB != 3 || o.Password != "secret" || o.PoolSize != 7 {
		t.Errorf("addr %q db %d password %q pool %d", o.Addr, o.DB, o.Password, o.PoolSize)
	}
	// The cache's defaults.
	if !o.ContextTimeoutEnabled || o.DialTimeout != time.Second || o.ReadTimeout != 500*time.Millisecond ||
		o.WriteTimeout != 500*time.Millisecond || o.PoolTimeout != time.Second || o.MaxRetries != 1 {
		t.Errorf("timeouts: ctx %v dial %v read %v write %v pool %v retries %d",
			o.ContextTimeoutEnabled, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.MaxRetries)
	}

	for _, tc := range []struct {
		url, addr, network, user string
		db                       int
		tls                      bool
	}{
		{"redis://localhost", "localhost:6379", "tcp", "", 0, false},
		{"rediss://app:pw@cache.example:6380/1", "cache.example:6380", "tcp", "app", 1, true},
		{"unix:///run/redis.sock?db=2", "/run/redis.sock", "unix", "", 2, false},
	} {
		cfg, err := cache.ParseRedisURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		o := cfg.Single
		if cfg.Mode != cache.RedisSingle || o.Addr != tc.addr || o.Network != tc.network || o.Username != tc.user ||
			o.DB != tc.db || (o.TLSConfig != nil) != tc.tls || !o.ContextTimeoutEnabled {
			t.Errorf("%s: mode %q addr %q network %q user %q db %d tls %v ctx %v", tc.url, cfg.Mode, o.Addr, o.Network,
				o.Username, o.DB, o.TLSConfig != nil, o.ContextTimeoutEnabled)
		}
	}
}

func TestParseRedisURLTimeoutsFromURLWin(t *testing.T) {
	cfg, err := cache.ParseRedisURL("redis://a:6379,b:6379?read_timeout=2s&dial_timeout=3s&max_retries=4")
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Cluster
	if o.ReadTimeout != 2*time.Second || o.DialTimeout != 3*time.Second || o.MaxRetries != 4 {
		t.Errorf("read %v dial %v retries %d, want the URL's", o.ReadTimeout, o.DialTimeout, o.MaxRetries)
	}
	if o.WriteTimeout != 500*time.Millisecond || !o.ContextTimeoutEnabled {
		t.Errorf("write %v ctx %v, want the cache's defaults for what the URL left out", o.WriteTimeout, o.ContextTimeoutEnabled)
	}
}

func TestParseRedisURLCluster(t *testing.T) {
	for _, tc := range []struct {
		url            string
		addrs          []string
		user, password string
		pool           int
		tls            bool
	}{
		{"redis://user:pw@10.0.0.1:7000,10.0.0.2:7001, 10.0.0.3?pool_size=5",
			[]string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:6379"}, "user", "pw", 5, false},
		{"redis://10.0.0.1:7000?cluster=true", []string{"10.0.0.1:7000"}, "", "", 0, false},
		{"rediss://:pw@h1,h2:7001/0", []string{"h1:6379", "h2:7001"}, "", "pw", 0, true},
		// go-redis's own form: further hosts as addr options.
		{"redis://h1:7000?addr=h2:7001&cluster=1", []string{"h1:7000", "h2:7001"}, "", "", 0, false},
	} {
		cfg, err := cache.ParseRedisURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if cfg.Mode != cache.RedisCluster || cfg.Cluster == nil || cfg.Single != nil || cfg.Failover != nil {
			t.Errorf("%s: mode %q, want cluster options only", tc.url, cfg.Mode)
			continue
		}
		o := cfg.Cluster
		if !slices.Equal(o.Addrs, tc.addrs) || o.Username != tc.user || o.Password != tc.password ||
			o.PoolSize != tc.pool || (o.TLSConfig != nil) != tc.tls {
			t.Errorf("%s: addrs %v user %q password %q pool %d tls %v", tc.url, o.Addrs, o.Username, o.Password, o.PoolSize, o.TLSConfig != nil)
		}
		if o.ReadTimeout != 500*time.Millisecond || !o.ContextTimeoutEnabled || o.MaxRetries != 1 {
			t.Errorf("%s: read %v ctx %v retries %d, want the cache's defaults", tc.url, o.ReadTimeout, o.ContextTimeoutEnabled, o.MaxRetries)
		}
		// go-redis's 60s default kept a dead master's address that long
		// after a failover (scripts/scale-test.sh cluster).
		if o.ClusterStateReloadInterval != cache.ClusterStateReloadInterval {
			t.Errorf("%s: slot map reloaded every %v, want %v", tc.url, o.ClusterStateReloadInterval, cache.ClusterStateReloadInterval)
		}
	}
}

func TestParseRedisURLSentinel(t *testing.T) {
	for _, tc := range []struct {
		url                        string
		addrs                      []string
		master, user, password     string
		sentinelUser, sentinelPass string
		db                         int
	}{
		{"redis://:masterpw@s1:26379,s2,s3:26380/2?master_name=mymaster&sentinel_password=sentpw&read_timeout=1s",
			[]string{"s1:26379", "s2:26379", "s3:26380"}, "mymaster", "", "masterpw", "", "sentpw", 2},
		// One sentinel is enough with master_name; no port means 26379.
		{"redis://s1?master_name=m", []string{"s1:26379"}, "m", "", "", "", "", 0},
		{"redis://app:pw@s1:5000?master_name=m&sentinel_username=watch&sentinel_password=spw",
			[]string{"s1:5000"}, "m", "app", "pw", "watch", "spw", 0},
	} {
		cfg, err := cache.ParseRedisURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if cfg.Mode != cache.RedisSentinel || cfg.Failover == nil || cfg.Single != nil || cfg.Cluster != nil {
			t.Errorf("%s: mode %q, want failover options only", tc.url, cfg.Mode)
			continue
		}
		o := cfg.Failover
		if !slices.Equal(o.SentinelAddrs, tc.addrs) || o.MasterName != tc.master || o.Username != tc.user ||
			o.Password != tc.password || o.SentinelUsername != tc.sentinelUser || o.SentinelPassword != tc.sentinelPass || o.DB != tc.db {
			t.Errorf("%s: addrs %v master %q user %q password %q sentinel %q/%q db %d", tc.url, o.SentinelAddrs, o.MasterName,
				o.Username, o.Password, o.SentinelUsername, o.SentinelPassword, o.DB)
		}
		if !o.ContextTimeoutEnabled || o.WriteTimeout != 500*time.Millisecond {
			t.Errorf("%s: ctx %v write %v, want the cache's defaults", tc.url, o.ContextTimeoutEnabled, o.WriteTimeout)
		}
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"", "want redis://host:port"},
		{"localhost:6379", "want redis://host:port"},
		{"http://localhost:6379", "want redis://host:port"},
		{"redis://", "no host"},
		{"redis://a:6379,b:6379/1", "only database 0"},
		{"redis://a:6379?cluster=maybe", `cluster="maybe" is not a boolean`},
		{"redis://a:6379?sentinel_password=x", "need master_name"},
		{"redis://a:6379?master_name=m&cluster=true", "exclude each other"},
		{"redis://a:6379,b:6379?no_such_option=1", "unexpected option: no_such_option"},
		{"redis://:topsecret@a:6379?read_timeout=forever", "invalid read_timeout"},
		{"redis://a:6379,b:6379?master_name=m&pool_size=x", "invalid pool_size"},
		{"redis://u:pw@s1?master_name=m&password=other", "credentials once"},
		{"redis://s1?master_name=m&addr=nohostport", "unable to parse addr"},
		{"redis://:topsecret@a b:6379", "invalid character"},
		{"redis://a:6379/x", "invalid database number"},
	} {
		_, err := cache.ParseRedisURL(tc.url)
		if err == nil {
			t.Errorf("%q: no error", tc.url)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "parse REDIS_URL: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%q: error %q, want it to say %q", tc.url, msg, tc.want)
		}
		if strings.Contains(msg, "topsecret") {
			t.Errorf("%q: the error shows the password: %v", tc.url, err)
		}
	}
}

func TestNewRedisClientTypes(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"redis://127.0.0.1:56379/0", "single"},
		{"unix:///run/redis.sock?db=1", "single"},
		{"redis://127.0.0.1:7000,127.0.0.1:7001", "cluster"},
		{"redis://127.0.0.1:7000?cluster=1", "cluster"},
		{"redis://127.0.0.1:26379,127.0.0.1:26380?master_name=mymaster", "sentinel"},
	} {
		rdb, err := cache.NewRedis(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		got := "?"
		switch c := rdb.(type) {
		case *redis.ClusterClient:
			got = "cluster"
		case *redis.Client:
			// A FailoverClient is a *redis.Client whose address is a
			// placeholder: the sentinels supply the master's.
			got = "single"
			if c.Options().Addr == "FailoverClient" {
				got = "sentinel"
			}
		}
		if got != tc.want {
			t.Errorf("%s: built a %T (%s), want %s", tc.url, rdb, got, tc.want)
		}
		_ = rdb.Close()
	}
}

func TestValidatePrefix(t *testing.T) {
	single, _ := cache.NewRedis("redis://127.0.0.1:6379")
	cluster, _ := cache.NewRedis("redis://127.0.0.1:7000,127.0.0.1:7001")
	defer single.Close()
	defer cluster.Close()
	if err := cache.ValidatePrefix(single, "orgpulse:"); err != nil {
		t.Errorf("single server: %v", err)
	}
	for _, p := range []string{"{orgpulse}:", "app:{orgpulse}:", "{x}"} {
		if err := cache.ValidatePrefix(cluster, p); err != nil {
			t.Errorf("cluster, %q: %v", p, err)
		}
	}
	for _, p := range []string{"orgpulse:", "{}orgpulse:", "orgpulse{:", ""} {
		if err := cache.ValidatePrefix(cluster, p); err == nil {
			t.Errorf("cluster, %q: accepted without a hash tag", p)
		}
	}
}
