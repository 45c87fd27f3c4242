import type { Server as HttpServer } from "node:http";
import type { Socket } from "node:net";

/** What an HTTP/2 client with prior knowledge sends first (RFC 9113 §3.4): cleartext gRPC does. */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Serves cleartext HTTP/2 beside HTTP/1.1 on a listening HTTP server's port, as Tempo serves gRPC
 * on its HTTP port (Grafana dials the data source URL's host:port for streaming). Each accepted
 * socket is read until its first bytes tell the protocols apart; the bytes go back into the socket
 * and it goes to `takeH2` or to the HTTP server's own connection handling (timeouts and all).
 */
export function shareWithH2(server: HttpServer, takeH2: (socket: Socket) => void): void {
  const http1 = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) => {
    let seen: Buffer = Buffer.alloc(0);
    // A client that connects and sends nothing is dropped, as HTTP/1.1 drops one that sends no headers.
    const timer = setTimeout(() => socket.destroy(), server.headersTimeout || 60_000);
    // Gone before its first request: nothing to answer (an HTTP server allows half-open sockets).
    const onError = () => socket.destroy();
    const onClose = () => clearTimeout(timer);
    const handOff = (h2: boolean) => {
      clearTimeout(timer);
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("end", onError);
      socket.removeListener("close", onClose);
      socket.pause();
      socket.unshift(seen);
      if (h2) takeH2(socket);
      else {
        for (const listener of http1) listener.call(server, socket);
        socket.resume();
      }
    };
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const prefix = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (!prefix) handOff(false);
      else if (n === H2_PREFACE.length) handOff(true);
      // else: a prefix of the preface so far; wait for the rest.
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("end", onError);
    socket.on("close", onClose);
  });
}
