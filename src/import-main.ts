/** `npm run import -- …`: see src/services/bastion-import/cli.ts. */
import { runImportCli } from './services/bastion-import/cli.js';

process.exit(await runImportCli(process.argv.slice(2)));
