import NIOCore
import NIOPosix
import OutboundHTTP
import Testing

/// A server may answer a request before reading all of it (a 415 or 413 decided on the head)
/// and close the connection while the client is still writing the body. The client's write then
/// fails, but the answer arrived: it is the request's outcome, not a connection error. (An alert
/// drill once counted such a 415 as a failed request.)
struct EarlyAnswerTests {
    /// Answers every connection with a 415 as soon as anything arrives, then closes it.
    final class AnswerAtOnce: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let answer = "HTTP/1.1 415 Unsupported Media Type\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope\n"
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))).whenComplete { _ in context.close(promise: nil) }
        }
    }

    @Test func anAnswerSentBeforeTheBodyWasReadIsReturned() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.pipeline.addHandler(AnswerAtOnce()) }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        // 16 MiB: far more than the socket buffers hold, so the client is still writing when
        // the server closes.
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 16 << 20)
        for _ in 0..<5 {
            let response = try await HTTPExchange.send(
                "POST", to: OutboundURL(host: "127.0.0.1", port: port, target: "/api/v1/claims"), headers: [("Content-Type", "application/xml")],
                body: body, timeout: .seconds(10))
            #expect(response.status == 415)
            #expect(String(decoding: response.body, as: UTF8.self) == "nope\n")
        }
        try await server.close()
    }
}
