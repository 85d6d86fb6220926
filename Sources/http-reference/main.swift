// The reference for claimsd's HTTP throughput: a bare Hummingbird server answering
// `GET /health` with the same 15 bytes as claimsd, with no middleware, no logging, no metrics and
// nothing built per request beyond what Hummingbird does. benchmarks/top-providers.sh runs it
// beside claimsd, so a figure for claimsd can be read against what the HTTP stack alone serves
// on the same machine in the same run.
//
//   http-reference [port]      listens on 127.0.0.1 (default port 28090)
import Hummingbird

let body = ByteBuffer(string: #"{"status":"ok"}"#)
let router = Router()
router.get("health") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}
let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 28_090
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "http-reference"))
try await app.runService()
