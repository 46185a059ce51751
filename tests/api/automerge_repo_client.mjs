// A real automerge-repo app for tests/api/test_automerge_repo.py.
//
// Usage: node automerge_repo_client.mjs WS_URL TOKEN AUTOMERGE_URL
// Finds the doc through the daemon, prints {"read": <doc>} as one JSON line,
// sets doc.fromNode = "hello" and pushes "eggs" to doc.items, prints
// {"changed": <doc>}, then keeps syncing until its stdin closes.
//
// WebSocketClientAdapter opens `new WebSocket(url)` (isomorphic-ws, which on
// Node is `require("ws")`) and cannot pass headers; the daemon's TCP API wants
// `Authorization: Bearer TOKEN`. So before the adapter loads, the `ws` module
// isomorphic-ws will require is replaced in the CommonJS cache by a subclass
// that adds the header: the real adapter and repo run unchanged.
// With CITIZEN_AUTH=subprotocol it sends no header and offers the token as a
// browser must, `new WebSocket(url, ["citizen", "citizen.token." + TOKEN])`
// (ws, like a browser, fails the handshake unless the answer names one of them).
// With a fourth argument, an automerge: URL the daemon lacks, it first prints
// {"unavailable": <error message>} for it.
import { createRequire } from "node:module"

const [url, token, docUrl, missingUrl] = process.argv.slice(2)
const asBrowser = process.env.CITIZEN_AUTH === "subprotocol"
const watchdog = setTimeout(() => {
  console.error("automerge-repo client: timed out")
  process.exit(2)
}, 120_000)

const require = createRequire(import.meta.url)
const isoRequire = createRequire(require.resolve("isomorphic-ws"))
const wsPath = isoRequire.resolve("ws")
const WS = isoRequire("ws")
class BearerWebSocket extends WS {
  constructor(address, protocols, options) {
    if (asBrowser) {
      super(address, ["citizen", `citizen.token.${token}`], options)
      return
    }
    super(address, protocols, {
      ...(options ?? {}),
      headers: { Authorization: `Bearer ${token}` },
    })
  }
}
require.cache[wsPath].exports = BearerWebSocket

const { Repo } = await import("@automerge/automerge-repo")
const { WebSocketClientAdapter } = await import(
  "@automerge/automerge-repo-network-websocket"
)

const repo = new Repo({ network: [new WebSocketClientAdapter(url)] })
if (missingUrl) {
  try {
    await repo.find(missingUrl)
    console.log(JSON.stringify({ unavailable: false }))
  } catch (err) {
    console.log(JSON.stringify({ unavailable: String(err.message ?? err) }))
  }
}
const handle = await repo.find(docUrl)
console.log(JSON.stringify({ read: handle.doc() }))

handle.change(doc => {
  doc.fromNode = "hello"
  if (Array.isArray(doc.items)) doc.items.push("eggs")
})
console.log(JSON.stringify({ changed: handle.doc() }))

process.stdin.resume()
process.stdin.on("end", async () => {
  clearTimeout(watchdog)
  await repo.shutdown()
  process.exit(0)
})
