// One benchmark worker process: what `aeflow-score worker` runs (startScoreWorker), until SIGTERM.
//   node --import tsx bench/worker.ts <redis-url> <queue-name> <concurrency>
import { initBackend } from '@aeflow/tensor/node';
import { startScoreWorker } from '../src/node.js';

const [url, queueName, concurrency] = process.argv.slice(2);
await initBackend({ quiet: true });
const worker = await startScoreWorker({ url: url!, queueName: queueName!, concurrency: Number(concurrency ?? 8) });
process.stdout.write('ready\n');
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
