/**
 * The workerd config both the conformance suite and the lateness bench run
 * a bundled worker with: `worker.mjs` (next to the config) served on
 * 127.0.0.1:`port`, and the `internet` service redefined so subrequests may
 * reach 127.0.0.1 (workerd's default network forbids private and local
 * addresses).
 */
export function workerdConfig(port: number, compatibilityDate: string): string {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker.mjs", esModule = embed "worker.mjs")],
  compatibilityDate = "${compatibilityDate}",
);
`;
}
