/**
 * The Node front: `@hono/node-server` with its defaults, as an app would run
 * it. Imported only by the Node bundle's entry (main_node.ts).
 *
 * @module
 */
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { setNodeServe } from "./front.ts";

setNodeServe(
  (fetch) =>
    new Promise((resolve, reject) => {
      const server = serve({ fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
        resolve({
          url: `http://127.0.0.1:${info.port}`,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              // Idle keep-alive sockets of the test client would hold close() for 5 s.
              (server as Server).closeAllConnections();
            }),
        });
      });
      server.once("error", reject);
    }),
);
