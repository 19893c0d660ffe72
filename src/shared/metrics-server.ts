/** Prometheus `/metrics` on its own port, so that it is never exposed through the ingress. */
import uWS from 'uWebSockets.js';
import type { Registry } from './metrics.js';

export class MetricsServer {
  readonly name = 'metrics';
  private sock: uWS.us_listen_socket | undefined;
  private _port = 0;

  constructor(
    private readonly registry: Registry,
    private readonly host: string,
    private readonly wantedPort: number,
  ) {}

  get port(): number {
    return this._port;
  }

  start(): Promise<void> {
    const app = uWS.App();
    app.get('/metrics', (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      this.registry.metrics().then(
        (text) => {
          if (aborted) return;
          res.cork(() => {
            res.writeHeader('content-type', this.registry.contentType);
            res.end(text);
          });
        },
        () => {
          if (aborted) return;
          res.cork(() => res.writeStatus('500 Internal Server Error').end());
        },
      );
    });
    app.any('/*', (res) => {
      res.writeStatus('404 Not Found').end();
    });
    return new Promise((resolve, reject) => {
      app.listen(this.host, this.wantedPort, (sock) => {
        if (!sock) return reject(new Error(`cannot listen for metrics on ${this.host}:${this.wantedPort}`));
        this.sock = sock;
        this._port = uWS.us_socket_local_port(sock);
        resolve();
      });
    });
  }

  close(): void {
    if (this.sock) uWS.us_listen_socket_close(this.sock);
    this.sock = undefined;
  }
}
