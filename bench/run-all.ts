/** `npm run bench`: every benchmark, one after the other, printing figures. */
import { benchStore } from './store.bench.js';

await benchStore();
