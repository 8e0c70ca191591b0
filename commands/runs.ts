/**
 * `/run` (inline: `/run <module> target:<filter> name=value …`) and `/jobs` (list, show,
 * signal, term, kill) with the Show / Term / Kill buttons. Each handler acks first; who acts is
 * the request's Slack user id and every rule is the run service's. The `/run` form (module
 * picker, target with a live host count, typed inputs) is not built yet: `/run` alone shows
 * the modules and how to type a run.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { errorMessage, infoMessage } from '../blocks/errors.js';
import { header, section, type Message } from '../blocks/kit.js';
import { jobListMessage, jobShowMessage, outputFileMessage, runStartedMessage, signalledMessage } from '../blocks/runs.js';
import { asAppError } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import type { ModuleCatalog } from '../src/services/modules/catalog.js';
import { describeParam } from '../src/services/modules/params.js';
import type { ModuleRuns } from '../src/services/modules/runs.js';
import type { JobOutputFile } from '../src/services/modules/output-file.js';
import { Actions, Commands } from './ids.js';
import { inputOf } from './input-guard.js';
import { ephemeralAck, safely } from './respond.js';
import { parseJobButton, parseJobs, parseRun, type JobsCommand } from './runs-parse.js';

export interface RunListenerDeps {
  runs: ModuleRuns;
  output: JobOutputFile;
  catalog: ModuleCatalog;
  logger: Logger;
}

function runHelp(catalog: ModuleCatalog): Message {
  const lines = catalog.all().map((m) => `\`${m.name}\` ${m.description}${m.params.length ? ` — ${m.params.map((p) => `${p.name}=<${describeParam(p)}>${p.optional || p.default !== undefined ? '?' : ''}`).join(' ')}` : ''} (envs: ${m.envs.join(', ')}${m.adminOnly ? '; admins only' : ''})`);
  return {
    text: '/run help',
    blocks: [
      header('Module runs'),
      section('`/run <module> target:<filter> name=value …` — the target is an inventory filter: host names, `project:x`, `app:x`, `env:x`, `<label>:<value>`, combined. Example: `/run syslog-tail target:app:nginx env:prod lines=200`'),
      section(lines.join('\n') || 'No modules in the catalog.'),
    ],
  };
}

const JOBS_HELP: Message = {
  text: '/jobs help',
  blocks: [header('Jobs'), section('`/jobs` — running jobs of every instance that you may see, with Term / Kill\n`/jobs show <id>` — params, per-host state, output tails (who started it, admins, and people with use on every inventory it touched; admin-only modules: who started it and admins)\n`/jobs output <id> <host>` — the host’s whole output as a file in your DM\n`/jobs signal <id> <TERM|INT|HUP|KILL|USR1|…>` · `/jobs term <id>` · `/jobs kill <id>` — who started it and admins')],
};

async function jobsAnswer(req: Exclude<JobsCommand, { sub: 'help' }>, user: string, deps: RunListenerDeps): Promise<Message> {
  const { runs } = deps;
  switch (req.sub) {
    case 'output':
      return outputFileMessage(await deps.output.send(user, req.jobId, req.host));
    case 'list':
      return jobListMessage(await runs.running(user), Date.now());
    case 'show':
      return jobShowMessage(await runs.find(user, req.jobId), Date.now());
    case 'signal': {
      const j = await runs.signal(user, req.jobId, req.signal);
      return signalledMessage(j, j.signals.at(-1)?.signal ?? req.signal);
    }
  }
}

export function registerRuns(app: App, deps: RunListenerDeps): void {
  app.command(Commands.run, async ({ command, ack, context }) => {
    const { input, reply } = inputOf(context);
    let req: ReturnType<typeof parseRun>;
    try {
      req = parseRun(command.text ?? '');
    } catch (err) {
      return void (await ack(ephemeralAck(errorMessage(asAppError(err)))));
    }
    if (req.sub === 'help') return void (await ack(ephemeralAck(runHelp(deps.catalog))));
    await ack();
    const r = req.request;
    await reply.answer(await safely(deps.logger, '/run', async () => runStartedMessage((await deps.runs.run(input.userId, r)).job)));
  });

  app.command(Commands.jobs, async ({ command, ack, context }) => {
    const { input, reply } = inputOf(context);
    let req: JobsCommand;
    try {
      req = parseJobs(command.text ?? '');
    } catch (err) {
      return void (await ack(ephemeralAck(errorMessage(asAppError(err)))));
    }
    if (req.sub === 'help') return void (await ack(ephemeralAck(JOBS_HELP)));
    await ack();
    const r = req;
    await reply.answer(await safely(deps.logger, `/jobs ${req.sub}`, () => jobsAnswer(r, input.userId, deps)));
  });

  const byButton = (what: 'show' | 'TERM' | 'KILL') =>
    async ({ ack, action, context }: { ack: () => Promise<void>; action: ButtonAction; context: Parameters<typeof inputOf>[0] }) => {
      const { input, reply } = inputOf(context);
      await ack();
      const message = await safely(deps.logger, `job ${what}`, () => {
        const jobId = parseJobButton(action.value);
        return jobsAnswer(what === 'show' ? { sub: 'show', jobId } : { sub: 'signal', jobId, signal: what }, input.userId, deps);
      });
      await reply.answer(message ?? infoMessage('Done.'), { replaceOriginal: false });
    };
  app.action<BlockAction<ButtonAction>>(Actions.jobShow, byButton('show'));
  app.action<BlockAction<ButtonAction>>(Actions.jobTerm, byButton('TERM'));
  app.action<BlockAction<ButtonAction>>(Actions.jobKill, byButton('KILL'));
}
