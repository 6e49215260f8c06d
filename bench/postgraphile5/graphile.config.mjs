// PostGraphile 5's configuration for scripts/bench.sh: the recommended amber
// preset with the two plugins PostGraphile 4 runs with in the benchmark
// (aggregates and the connection filter), set for production: no GraphiQL,
// no explain, no watch, no websockets. server.mjs reads it; the database,
// host and port come from the environment bench.sh sets.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

const need = (name) => {
	const v = process.env[name];
	if (!v) throw new Error(`${name} is not set`);
	return v;
};

/** @type {GraphileConfig.Preset} */
export default {
	extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset, PgAggregatesPreset],
	pgServices: [
		makePgService({
			connectionString: need("PG5_DATABASE_URL"),
			schemas: ["public"],
			// As PostGraphile 4's --max-pool-size 10, per worker process.
			poolConfig: { max: 10 },
		}),
	],
	grafserv: {
		host: process.env.PG5_HOST ?? "127.0.0.1",
		port: Number(need("PG5_PORT")),
		graphiql: false,
		graphiqlOnGraphQLGET: false,
		watch: false,
		websockets: false,
	},
	grafast: { explain: false },
};
