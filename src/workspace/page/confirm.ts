/**
 * A button's confirm dialog (`confirm: { title, text, confirm, deny, style }`), as an
 * alertdialog that answers true only when its confirm button is pressed.
 */
import type { Obj } from './elements.js';
import { plainOf, textObject, type Names } from './mrkdwn.js';

export function confirmDialog(c: Obj, names: Names): Promise<boolean> {
  return new Promise((resolve) => {
    const back = document.createElement('div');
    back.className = 'backdrop';
    const d = document.createElement('div');
    d.className = 'dialog confirm';
    d.setAttribute('role', 'alertdialog');
    d.setAttribute('aria-modal', 'true');
    const title = document.createElement('h2');
    title.id = 'confirm-title';
    title.textContent = plainOf(c.title) || 'Are you sure?';
    d.setAttribute('aria-labelledby', title.id);
    const text = document.createElement('div');
    text.className = 'dialog-body';
    text.append(...textObject(c.text, names));
    const yes = document.createElement('button');
    yes.type = 'button';
    yes.className = `btn ${c.style === 'danger' ? 'btn-danger' : 'btn-primary'}`;
    yes.textContent = plainOf(c.confirm) || 'Yes';
    const no = document.createElement('button');
    no.type = 'button';
    no.className = 'btn';
    no.textContent = plainOf(c.deny) || 'Cancel';
    const foot = document.createElement('div');
    foot.className = 'dialog-foot';
    foot.append(no, yes);
    d.append(title, text, foot);
    back.append(d);
    const done = (answer: boolean) => {
      back.remove();
      resolve(answer);
    };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    d.addEventListener('keydown', (e) => e.key === 'Escape' && done(false));
    document.body.append(back);
    no.focus();
  });
}
