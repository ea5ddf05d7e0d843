import cliProgress from 'cli-progress';

/** Progress of a long task: a bar on a terminal, a plain line every few seconds otherwise. */
export interface ProgressView {
  update(done: number, total: number, detail: string): void;
  stop(): void;
}

/** Picks the view for the stream: a bar on a TTY, throttled plain lines otherwise (logs, CI). */
export function progressView(stream: NodeJS.WriteStream, label: string, intervalMs = 2000): ProgressView {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} [{bar}] {value}/{total} types | {detail}`,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, detail) {
        if (!started) {
          bar.start(total, done, { detail });
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done, { detail });
        }
      },
      stop() {
        if (started) bar.stop();
        started = false;
      },
    };
  }
  let last = 0;
  let lastLine = '';
  return {
    update(done, total, detail) {
      lastLine = `${label}: ${done}/${total} types, ${detail}\n`;
      const now = performance.now();
      if (now - last >= intervalMs) {
        last = now;
        stream.write(lastLine);
        lastLine = '';
      }
    },
    stop() {
      if (lastLine) stream.write(lastLine);
      lastLine = '';
    },
  };
}
