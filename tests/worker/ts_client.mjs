// A real MCP client in another language: the TypeScript SDK (npm @modelcontextprotocol/sdk@1)
// drives the Python worker over stdio and prints what it saw as one JSON object on stdout.
//
// Environment: TS_SDK_DIR (the SDK's package folder), WORKER_COMMAND (JSON array),
// WORKER_ENV (JSON object, the worker's environment).
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const sdk = process.env.TS_SDK_DIR
const load = file => import(pathToFileURL(join(sdk, 'dist', 'esm', ...file.split('/'))).href)
const { Client } = await load('client/index.js')
const { StdioClientTransport } = await load('client/stdio.js')

const [command, ...args] = JSON.parse(process.env.WORKER_COMMAND)
const transport = new StdioClientTransport({
  command,
  args,
  env: JSON.parse(process.env.WORKER_ENV),
  stderr: 'ignore',
})
const client = new Client({ name: 'ts-client', version: '1.0.0' })
await client.connect(transport)

const textOf = result => result.content.filter(c => c.type === 'text').map(c => c.text).join('\n')
const tools = (await client.listTools()).tools
const vmsQuery = tools.find(tool => tool.name === 'vms_query')
const query = await client.callTool({
  name: 'vms_query',
  arguments: { operation: 'GetVms', fields: 'name_label,power_state', limit: 2 },
})
const failure = await client.callTool({ name: 'vms_query', arguments: { operation: 'GetVm', id: 'nope' } })
const prompts = (await client.listPrompts()).prompts

process.stdout.write(
  JSON.stringify({
    server: client.getServerVersion(),
    tools: tools.map(tool => tool.name),
    vmsOperations: vmsQuery.inputSchema.properties.operation.enum,
    vmsReadOnly: vmsQuery.annotations?.readOnlyHint ?? null,
    query: { isError: query.isError ?? false, text: textOf(query) },
    failure: { isError: failure.isError ?? false, text: textOf(failure) },
    prompts: prompts.map(prompt => prompt.name),
  }) + '\n'
)
await client.close()
