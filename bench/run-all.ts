/** `npm run bench`: every benchmark, one after the other, printing figures. */
import { benchBastionImport } from './bastion-import.bench.js';
import { benchExpiryStorm } from './expiry-storm.bench.js';
import { benchFleet } from './fleet.bench.js';
import { benchOutbox } from './outbox.bench.js';
import { benchSshFanout } from './ssh-fanout.bench.js';
import { benchStore } from './store.bench.js';
import { benchTicketLog } from './ticket-log.bench.js';
import { benchTickets } from './tickets.bench.js';
import { benchWriteAck } from './write-ack.bench.js';

await benchStore();
await benchSshFanout();
await benchFleet();
await benchExpiryStorm();
await benchTicketLog();
await benchTickets();
await benchWriteAck();
await benchOutbox();
await benchBastionImport();
