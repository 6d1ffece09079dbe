// The official TypeScript MCP SDK as a client (what most MCP hosts embed): the same tool called
// through the gateway and on the worker directly, alternating call by call.
// Run from the npm cache folder (bench/gateway.py copies it there) so that the SDK resolves.
//   node ts_client.mjs WARMUP CALLS GATEWAY_URL GATEWAY_ARGS DIRECT_URL DIRECT_ARGS
// Prints {"gateway": [ms...], "direct": [ms...]} on stdout.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [warmUp, calls, gatewayUrl, gatewayArgs, directUrl, directArgs] = process.argv.slice(2);
const TOOL = "vms_query";

async function connect(url) {
  const client = new Client({ name: "xo-mcp-bench", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

const paths = {
  gateway: { client: await connect(gatewayUrl), args: JSON.parse(gatewayArgs), ms: [] },
  direct: { client: await connect(directUrl), args: JSON.parse(directArgs), ms: [] },
};
for (let index = 0; index < Number(warmUp) + Number(calls); index++) {
  for (const path of Object.values(paths)) {
    const started = performance.now();
    const result = await path.client.callTool({ name: TOOL, arguments: path.args });
    if (result.isError) throw new Error(JSON.stringify(result).slice(0, 500));
    if (index >= Number(warmUp)) path.ms.push(performance.now() - started);
  }
}
for (const path of Object.values(paths)) await path.client.close();
console.log(JSON.stringify({ gateway: paths.gateway.ms, direct: paths.direct.ms }));
