// A TLS-terminating TCP proxy for the Node SDK run (scripts/sdk-tests).
//
// node-auth0 builds every URL as `https://${domain}` (Management API, token
// provider, AuthenticationClient, and the ID-token validator, which fetches
// `https://${domain}/.well-known/jwks.json` and wants `iss` to be
// `https://${domain}/`). So the Node run puts grantor behind TLS, as a
// deployment behind a reverse proxy would be: this proxy listens on
// 127.0.0.1:0 with a throw-away certificate and pipes bytes to grantor, which
// is started with `--issuer https://127.0.0.1:<proxy port>/`.
//
// usage: node tls_proxy.mjs CERT KEY UPSTREAM_FILE
// Prints `listening on 127.0.0.1:PORT` on stdout. The upstream (`HOST:PORT` of
// grantor's plain-HTTP listener) is read from UPSTREAM_FILE on each connection,
// because grantor can only be started once the proxy's port is known.

import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";

const [cert, key, upstreamFile] = process.argv.slice(2);
if (!upstreamFile) {
  console.error("usage: node tls_proxy.mjs CERT KEY UPSTREAM_FILE");
  process.exit(2);
}

const server = tls.createServer(
  { cert: readFileSync(cert), key: readFileSync(key), ALPNProtocols: ["http/1.1"] },
  (client) => {
    let upstream;
    try {
      upstream = readFileSync(upstreamFile, "utf8").trim();
    } catch {
      client.destroy();
      return;
    }
    const i = upstream.lastIndexOf(":");
    const backend = net.connect({ host: upstream.slice(0, i), port: Number(upstream.slice(i + 1)) });
    client.pipe(backend).pipe(client);
    const close = () => {
      client.destroy();
      backend.destroy();
    };
    client.on("error", close);
    backend.on("error", close);
    client.on("close", close);
    backend.on("close", close);
  },
);
server.on("tlsClientError", () => {});
server.listen(0, "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`listening on ${address}:${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
