/** `/opsgate`: parse, ack within Slack's 3 seconds, call the console service, render. */
import type { App } from '@slack/bolt';
import { auditExportMessage, auditMessage } from '../blocks/audit.js';
import { tokenCreatedMessage, tokenListMessage, tokenRevokedMessage } from '../blocks/api-tokens.js';
import { errorMessage, infoMessage } from '../blocks/errors.js';
import { helpMessage } from '../blocks/help.js';
import { hostsMessage, productsMessage, projectsMessage, reloadMessage } from '../blocks/inventory.js';
import type { Message } from '../blocks/kit.js';
import { teamsMessage, whoamiMessage } from '../blocks/people.js';
import { asAppError } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import { HOST_LIST_LIMIT, type ConsoleService } from '../src/services/console.js';
import { Commands } from './ids.js';
import { inputOf } from './input-guard.js';
import { parseOpsgate, type OpsgateRequest } from './opsgate-parse.js';
import { ephemeralAck, safely } from './respond.js';

export interface OpsgateDeps {
  console: ConsoleService;
  logger: Logger;
}

async function answer(req: OpsgateRequest, user: string, responseUrl: string | undefined, c: ConsoleService): Promise<Message> {
  switch (req.sub) {
    case 'help':
      return helpMessage();
    case 'whoami':
      return whoamiMessage(await c.whoami(user));
    case 'hosts':
      return hostsMessage(await c.hosts(user, req.filter), req.filter, HOST_LIST_LIMIT);
    case 'projects':
      return projectsMessage(await c.projects(user));
    case 'products':
      return productsMessage(await c.products(user));
    case 'teams':
      return teamsMessage(await c.teams(user));
    case 'sync':
      await c.requestSync(user, responseUrl);
      // Without a response_url on Slack's hosts the job has nowhere safe to post the result.
      return infoMessage(`:hourglass_flowing_sand: Directory sync started; ${responseUrl ? 'the result follows here' : 'its result will be in `/opsgate audit action:directory.sync`'}.`);
    case 'reload':
      return reloadMessage(await c.reload(user));
    case 'audit':
      return auditMessage(await c.audit(user, req));
    case 'audit-export':
      return auditExportMessage(await c.exportAudit(user, req));
    case 'grant': {
      const r = await c.grant(user, req.role, req.resource, req.who);
      return infoMessage(r === 'granted' ? ':white_check_mark: Role granted.' : 'That role was already granted; nothing changed.');
    }
    case 'revoke': {
      const r = await c.revoke(user, req.role, req.resource, req.who);
      return infoMessage(r === 'revoked' ? ':white_check_mark: Role revoked.' : 'No such grant; nothing changed.');
    }
    case 'team-create':
      await c.createTeam(user, req.name, req.organization);
      return infoMessage(`:white_check_mark: Team ${req.name} created.`);
    case 'team-add':
    case 'team-remove': {
      const r = await c.changeTeam(user, req.sub === 'team-add' ? 'add' : 'remove', req.team, req.who);
      return infoMessage(r === 'added' || r === 'removed' ? `:white_check_mark: Member ${r}.` : 'Nothing changed.');
    }
    case 'org-create':
      await c.createOrganization(user, req.name);
      return infoMessage(`:white_check_mark: Organization ${req.name} created.`);
    case 'token-create':
      return tokenCreatedMessage(await c.createToken(user, { name: req.name, days: req.days, scope: req.scope }));
    case 'token-list':
      return tokenListMessage(await c.listTokens(user, req.all), req.all, Date.now());
    case 'token-revoke':
      return tokenRevokedMessage(await c.revokeToken(user, req.id));
  }
}

export function registerOpsgateCommand(app: App, deps: OpsgateDeps): void {
  app.command(Commands.opsgate, async ({ command, ack, context }) => {
    const { input, reply } = inputOf(context);
    let req: OpsgateRequest;
    try {
      req = parseOpsgate(command.text ?? '');
    } catch (err) {
      await ack(ephemeralAck(errorMessage(asAppError(err))));
      return;
    }
    if (req.sub === 'help') {
      await ack(ephemeralAck(helpMessage()));
      return;
    }
    await ack();
    const message = await safely(deps.logger, `/opsgate ${req.sub}`, () => answer(req, input.userId, reply.responseUrl, deps.console));
    await reply.answer(message);
  });
}
