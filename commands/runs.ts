/**
 * `/run` (inline: `/run <module> target:<filter> name=value …`) and `/jobs` (list, show,
 * signal, term, kill) with the Show / Term / Kill buttons. Each handler acks first; who acts is
 * the request's Slack user id and every rule is the run service's. `/run` alone opens the form
 * (module, target with a live count of matching hosts, the module's parameters as typed
 * inputs), redrawn whenever the module or the target changes; its Submit goes through the same
 * run service as the inline form, a refusal shown on its field with its code. `/run help`
 * lists the modules and how to type a run. `/jobs` takes module runs (`J-…`) and ticket runs
 * (`TK-…`) alike, through the job-control service.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { errorMessage, fieldError, infoMessage } from '../blocks/errors.js';
import { header, plain, section, type Message } from '../blocks/kit.js';
import { fitOptions } from '../blocks/limits.js';
import { EMPTY_RUN_FORM, runFormModal, type RunFormState } from '../blocks/run-form.js';
import { jobHostsModal, jobListMessage, jobShowMessage, outputFileMessage, runStartedMessage, signalledMessage } from '../blocks/runs.js';
import { ticketJobShowMessage, ticketSignalledMessage } from '../blocks/ticket-jobs.js';
import type { JobControl } from '../src/services/jobs/job-control.js';
import { AppError, asAppError, badParameter, ErrorCode } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import type { ModuleCatalog } from '../src/services/modules/catalog.js';
import { describeParam } from '../src/services/modules/params.js';
import { MAX_RUN_HOSTS } from '../src/services/modules/plan.js';
import type { RunFormService } from '../src/services/modules/run-form.js';
import type { ModuleRuns } from '../src/services/modules/runs.js';
import type { Job } from '../src/models/jobs.js';
import type { JobOutputFile } from '../src/services/modules/output-file.js';
import { parseHostSearch } from './access-parse.js';
import { registerRunApprovals } from './run-approvals.js';
import { Actions, Commands, RunBlocks, Views } from './ids.js';
import { inputOf } from './input-guard.js';
import { ephemeralAck, safely, within } from './respond.js';
import { parseJobButton, parseJobHostsButton, parseJobs, parseRun, parseRunForm, parseRunFormMeta, runFormTarget, type JobsCommand } from './runs-parse.js';

export interface RunListenerDeps {
  runs: ModuleRuns;
  /** `/jobs` over module runs and ticket runs. */
  jobs: JobControl;
  form: RunFormService;
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
      section('`/run` — the form: pick a module, the hosts (or a project, app category, environment, label) with a live count of matching hosts, and fill in its parameters\n`/run <module> target:<filter> name=value …` — the target is an inventory filter: host names, `project:x`, `app:x`, `env:x`, `<label>:<value>`, combined. Example: `/run syslog-tail target:app:nginx env:prod lines=200`'),
      section(lines.join('\n') || 'No modules in the catalog.'),
    ],
  };
}

const JOBS_HELP: Message = {
  text: '/jobs help',
  blocks: [header('Jobs'), section('`/jobs` — running jobs of every instance that you may see (module runs `J-…` and ticket runs `TK-…`), with Term / Kill\n`/jobs show <id>` — params, per-host state, output tails (who started it, admins, and people with use on every inventory it touched; admin-only modules: who started it and admins); a ticket: its params (secrets masked), task, center, instance, log tail (as `/ticket show` allows)\n`/jobs output <id> <host>` — the host’s whole output as a file in your DM\n`/jobs signal <id> <TERM|INT|HUP|KILL|USR1|…>` · `/jobs term <id>` · `/jobs kill <id>` — who started it (a ticket: who pressed Run, its submitter for automatic runs and the pre-task) and admins')],
};

/** How long the form's Submit may take before the form closes and the answer comes by DM. */
const FORM_ANSWER_MS = 2_000;

/** The form as it should look now: the module chosen, and the count for the target typed so far. */
async function formView(userId: string, state: RunFormState, channel: string, deps: RunListenerDeps) {
  const modules = await deps.form.modules(userId);
  const module = modules.find((m) => m.name === state.module) ?? null;
  let count: Parameters<typeof runFormModal>[0]['count'] = null;
  try {
    const filter = runFormTarget(state);
    if (filter || state.hosts.length) count = { matching: await deps.form.count(userId, filter, state.hosts), target: [state.hosts.join(', '), filter].filter(Boolean).join(' '), max: MAX_RUN_HOSTS };
  } catch (err) {
    const e = asAppError(err);
    if (e.code === ErrorCode.Internal) throw err;
    count = { error: e.toUserText() };
  }
  return runFormModal({ modules, module, state: { ...state, module: module?.name ?? null }, count, metadata: JSON.stringify({ c: channel }) });
}

/** The form's block a refusal belongs to: its parameter, the module, the environment, else the target. */
function formErrorBlock(e: AppError, blocks: string[]): string {
  const d = e.details ?? {};
  const candidates = [
    typeof d.param === 'string' ? `${RunBlocks.paramPrefix}${d.param}` : '',
    typeof d.field === 'string' ? d.field : '',
    typeof d.module === 'string' ? RunBlocks.module : '',
    typeof d.env === 'string' || typeof d.host === 'string' || e.code === ErrorCode.NeedPermission ? (blocks.includes(RunBlocks.env) ? RunBlocks.env : RunBlocks.hosts) : '',
    d.field === 'target' ? RunBlocks.hosts : '',
  ];
  if (typeof d.module === 'string' && e.code === ErrorCode.NeedPermission) return RunBlocks.module;
  return candidates.find((b) => b && blocks.includes(b)) ?? (blocks.includes(RunBlocks.hosts) ? RunBlocks.hosts : RunBlocks.module);
}

async function jobsAnswer(req: Exclude<JobsCommand, { sub: 'help' }>, user: string, deps: RunListenerDeps): Promise<Message> {
  switch (req.sub) {
    case 'output':
      return outputFileMessage(req.host ? await deps.output.send(user, req.jobId, req.host) : await deps.output.sendAll(user, req.jobId));
    case 'list': {
      const running = await deps.jobs.running(user);
      return jobListMessage(running.modules, Date.now(), running.tickets);
    }
    case 'show': {
      const found = await deps.jobs.find(user, req.jobId);
      return found.kind === 'ticket' ? ticketJobShowMessage(found.job, Date.now()) : jobShowMessage(found.job, Date.now());
    }
    case 'signal': {
      const s = await deps.jobs.signal(user, req.jobId, req.signal);
      return s.kind === 'ticket' ? ticketSignalledMessage(s.job, s.request) : signalledMessage(s.job, s.job.signals.at(-1)?.signal ?? req.signal);
    }
  }
}

export function registerRuns(app: App, deps: RunListenerDeps): void {
  registerRunApprovals(app, { approvals: deps.runs.approvals, logger: deps.logger });
  app.command(Commands.run, async ({ command, ack, client, context }) => {
    const { input, reply } = inputOf(context);
    let req: ReturnType<typeof parseRun>;
    try {
      req = parseRun(command.text ?? '');
    } catch (err) {
      return void (await ack(ephemeralAck(errorMessage(asAppError(err)))));
    }
    if (req.sub === 'help') return void (await ack(ephemeralAck(runHelp(deps.catalog))));
    await ack();
    if (req.sub === 'form') {
      if (!input.triggerId) return void (await reply.answer(errorMessage(new AppError(ErrorCode.MissingField, 'this request carries no trigger_id, so no form can open; type /run help for the inline form'))));
      const failed = await safely(deps.logger, '/run form', async () => (await client.views.open({ trigger_id: input.triggerId!, view: await formView(input.userId, EMPTY_RUN_FORM, input.channelId ?? '', deps) }), null));
      if (failed) await reply.answer(failed);
      return;
    }
    const r = req.request;
    await reply.answer(await safely(deps.logger, '/run', async () => runStartedMessage((await deps.runs.run(input.userId, r)).job)));
  });

  // The module or the target changed: the form is redrawn with that module's inputs and the new count.
  const redraw = async ({ ack, body, client, context }: { ack: () => Promise<void>; body: unknown; client: WebClient; context: Parameters<typeof inputOf>[0] }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const view = (body as { view?: { state?: { values?: unknown }; private_metadata?: string; hash?: string } }).view;
    const failed = await safely(deps.logger, 'run form redraw', async () => {
      if (!input.viewId) return null;
      const meta = parseRunFormMeta(view?.private_metadata);
      const next = await formView(input.userId, parseRunForm(view?.state?.values), meta.c, deps);
      // The hash the click saw: a redraw computed from older input than the view now holds is
      // refused by Slack (hash_conflict) instead of overwriting what was typed since.
      const hash = typeof view?.hash === 'string' && view.hash.length <= 100 ? view.hash : undefined;
      try {
        await client.views.update({ view_id: input.viewId, view: next, ...(hash ? { hash } : {}) });
      } catch (err) {
        if ((err as { data?: { error?: string } }).data?.error !== 'hash_conflict') throw err;
        deps.logger.debug({ viewId: input.viewId }, 'run form redraw skipped: the view changed since (hash_conflict)');
      }
      return null;
    });
    if (failed) await reply.tell(failed);
  };
  app.action<BlockAction>(Actions.runModule, redraw);
  app.action<BlockAction>(Actions.runHosts, redraw);
  app.action<BlockAction>(Actions.runTarget, redraw);

  // The host picker, searched in the inventory as the person types.
  app.options(Actions.runHosts, async ({ options, ack, context }) => {
    const { input } = inputOf(context);
    try {
      const hosts = await deps.form.hostChoices(input.userId, parseHostSearch(options.value ?? ''));
      await ack({ options: fitOptions(hosts.map((h) => ({ text: plain(`${h.name} (${h.env ?? 'no env'}${h.enabled ? '' : ', disabled'})`), value: h.name }))) });
    } catch (err) {
      // A suggestion list cannot show an error: the refusal is the one option, and no host name.
      await ack({ options: fitOptions([{ text: plain(fieldError(asAppError(err))), value: '!refused' }]) });
    }
  });

  app.view(Views.runForm, async ({ ack, view, context }) => {
    const { input, reply } = inputOf(context);
    const blocks = Object.keys(view.state?.values ?? {});
    let work: Promise<{ job: Job }>;
    let channel = '';
    try {
      channel = parseRunFormMeta(view.private_metadata).c;
      const form = parseRunForm(view.state?.values);
      if (!form.module) throw badParameter('choose a module', { field: RunBlocks.module });
      work = deps.runs.run(input.userId, { module: form.module, target: runFormTarget(form), hosts: form.hosts, params: form.params });
    } catch (err) {
      const e = asAppError(err);
      return void (await ack({ response_action: 'errors', errors: { [formErrorBlock(e, blocks)]: fieldError(e) } } as never));
    }
    // A quick refusal is shown on its field; a slow start is answered by DM.
    const r = await within(work, FORM_ANSWER_MS);
    if (r.done && 'error' in r) {
      const e = asAppError(r.error);
      if (!(r.error instanceof AppError)) deps.logger.error({ err: r.error }, 'run form submit failed');
      return void (await ack({ response_action: 'errors', errors: { [formErrorBlock(e, blocks)]: fieldError(e) } } as never));
    }
    await ack();
    const message = r.done ? runStartedMessage(r.value.job) : await safely(deps.logger, 'run form submit', async () => runStartedMessage((await work).job));
    await reply.tell(message, channel || undefined);
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
  // The per-host view: opened from the final channel message, paged in place; a host's output as a file in the clicker's DM.
  app.action<BlockAction<ButtonAction>>(Actions.jobHosts, async ({ ack, action, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const failed = await safely(deps.logger, 'job hosts', async () => {
      const job = await deps.runs.find(input.userId, parseJobButton(action.value));
      if (!input.triggerId) return errorMessage(new AppError(ErrorCode.MissingField, 'this click carries no trigger_id, so no view can open; try again'));
      await client.views.open({ trigger_id: input.triggerId, view: jobHostsModal(job, 0) });
      return null;
    });
    if (failed) await reply.answer(failed, { replaceOriginal: false });
  });
  app.action<BlockAction<ButtonAction>>(new RegExp(`^${Actions.jobHostsPage}:`), async ({ ack, action, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    const failed = await safely(deps.logger, 'job hosts page', async () => {
      const v = parseJobHostsButton(action.value);
      if (v.p === undefined || !input.viewId) throw badParameter('this button names no page');
      await client.views.update({ view_id: input.viewId, view: jobHostsModal(await deps.runs.find(input.userId, v.j), v.p) });
      return null;
    });
    if (failed) await reply.tell(failed);
  });
  app.action<BlockAction<ButtonAction>>(Actions.jobHostFile, async ({ ack, action, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    await reply.tell(
      await safely(deps.logger, 'job host file', async () => {
        const v = parseJobHostsButton(action.value);
        if (v.h === undefined) throw badParameter('this button names no host');
        return outputFileMessage(await deps.output.send(input.userId, v.j, v.h));
      }),
    );
  });
  app.action<BlockAction<ButtonAction>>(Actions.jobOutputAll, async ({ ack, action, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    await reply.tell(await safely(deps.logger, 'job output file', async () => outputFileMessage(await deps.output.sendAll(input.userId, parseJobButton(action.value)))));
  });
  app.action<BlockAction<ButtonAction>>(Actions.jobShow, byButton('show'));
  app.action<BlockAction<ButtonAction>>(Actions.jobTerm, byButton('TERM'));
  app.action<BlockAction<ButtonAction>>(Actions.jobKill, byButton('KILL'));
}
