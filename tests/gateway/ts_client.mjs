// A second MCP client implementation (the TypeScript SDK from npm) for the gateway tests.
// usage: node ts_client.mjs http URL TOKEN | node ts_client.mjs stdio PYTHON ARGS_JSON STAGING_TOKEN
// Prints one JSON line: {tools: [...], isError, text} after a pools_query on production.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH, "noop.js"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [mode, ...args] = process.argv.slice(2);

function transport() {
  if (mode === "http") {
    const [url, token] = args;
    return new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    });
  }
  const [python, argsJson, stagingToken] = args;
  return new StdioClientTransport({
    command: python,
    args: JSON.parse(argsJson),
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? "/tmp", STAGING_TOKEN: stagingToken },
    stderr: "ignore",
  });
}

const client = new Client({ name: "ts-test", version: "1.0.0" });
await client.connect(transport());
let names = [];
for (let attempt = 0; attempt < 600; attempt++) {
  names = (await client.listTools()).tools.map((tool) => tool.name);
  if (names.includes("pools_query")) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const result = await client.callTool({
  name: "pools_query",
  arguments: { instance: "production", operation: "GetPools" },
});
console.log(JSON.stringify({ tools: names, isError: result.isError ?? false, text: result.content[0].text }));
await client.close();
