/**
 * The message box: it takes slash commands. As the person types a command name it offers the
 * manifest's matching commands (buttons that complete it; Tab completes a unique prefix) and
 * shows the typed command's usage hint under the box. Enter sends, Shift+Enter is a new line.
 * A command the workspace refused is shown as its coded error.
 */
import type { Command } from './api.js';

export interface ComposerHost {
  /** Delivers the text; resolves with an error to show, or null. */
  send(text: string): Promise<string | null>;
}

export class Composer {
  private commands: Command[] = [];
  private readonly input: HTMLTextAreaElement;
  private readonly hint: HTMLElement;
  private readonly error: HTMLElement;
  private readonly list: HTMLElement;

  constructor(form: HTMLFormElement, host: ComposerHost) {
    this.input = form.querySelector('#message')!;
    this.hint = form.querySelector('#message-hint')!;
    this.error = form.querySelector('#message-error')!;
    this.list = form.querySelector('#command-list')!;
    this.input.addEventListener('input', () => this.showHint());
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        form.requestSubmit();
      } else if (e.key === 'Tab' && !e.shiftKey) {
        const hits = this.matching();
        if (hits.length !== 1) return;
        e.preventDefault();
        this.complete(hits[0]!);
      }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.error.textContent = '';
      if (!text.startsWith('/')) return this.showError('The bot takes slash commands here: start with / (try /opsgate help).');
      const failed = await host.send(text);
      if (failed) this.showError(failed);
      else {
        this.input.value = '';
        this.showHint();
      }
    });
  }

  setCommands(commands: Command[]): void {
    this.commands = commands;
  }

  setPlace(label: string): void {
    this.input.placeholder = `Message ${label}: type / for commands`;
  }

  showError(text: string): void {
    this.error.textContent = text;
  }

  /** The commands the first word could still become (none once a space follows it). */
  private matching(): Command[] {
    const v = this.input.value;
    if (!/^\/\S*$/.test(v)) return [];
    return this.commands.filter((c) => c.command.startsWith(v) && c.command !== v);
  }

  private complete(c: Command): void {
    this.input.value = `${c.command} `;
    this.input.focus();
    this.showHint();
  }

  private showHint(): void {
    const word = this.input.value.split(/\s/)[0] ?? '';
    const exact = this.commands.find((c) => c.command === word);
    this.hint.textContent = exact ? `${exact.command} ${exact.usageHint ?? ''}${exact.description ? ` — ${exact.description}` : ''}` : '';
    this.list.replaceChildren(
      ...this.matching().map((c) => {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = `${c.command} ${c.usageHint ?? ''}`.trim();
        b.title = c.description ?? '';
        b.addEventListener('click', () => this.complete(c));
        li.append(b);
        return li;
      }),
    );
  }
}
