// Passkeys on the sign-in and account pages (SPEC section 7). The server
// speaks WebAuthn L3's JSON forms, which the browser itself parses
// (PublicKeyCredential.parse...OptionsFromJSON) and produces (toJSON()).
// Every call carries the page's CSRF token in X-CSRF-Token. Without this
// script, or without passkey support, the buttons stay hidden or disabled
// and everything else on the pages still works.
'use strict';

(function () {
  const PKC = window.PublicKeyCredential;
  const supported = Boolean(
    PKC && PKC.parseCreationOptionsFromJSON && PKC.parseRequestOptionsFromJSON && navigator.credentials
  );

  function csrfToken() {
    const input = document.querySelector('input[name="csrf_token"]');
    return input ? input.value : '';
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken() },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (ignored) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && typeof data.detail === 'string' ? data.detail : 'The request failed (' + response.status + ')';
      throw new Error(detail);
    }
    return data;
  }

  function say(message) {
    const element = document.getElementById('passkey-error');
    if (element) {
      element.textContent = message;
      element.hidden = !message;
    }
  }

  function explain(err) {
    // The person closed the browser's dialog, or no passkey matched.
    if (err && err.name === 'NotAllowedError') return 'No passkey was used.';
    return err && err.message ? err.message : String(err);
  }

  async function signIn(button) {
    say('');
    button.disabled = true;
    try {
      const options = await post(button.dataset.options, {});
      const credential = await navigator.credentials.get({
        publicKey: PKC.parseRequestOptionsFromJSON(options),
      });
      const done = await post(button.dataset.finish, { credential: credential.toJSON() });
      window.location.assign(done.location);
    } catch (err) {
      say(explain(err));
      button.disabled = false;
    }
  }

  async function register(form, button) {
    say('');
    button.disabled = true;
    const fields = new FormData(form);
    try {
      const options = await post(form.dataset.options, { current_password: fields.get('current_password') });
      const credential = await navigator.credentials.create({
        publicKey: PKC.parseCreationOptionsFromJSON(options),
      });
      const added = await post(form.dataset.finish, { name: fields.get('name'), credential: credential.toJSON() });
      const codes = document.getElementById('passkey-codes');
      if (added.recovery_codes.length === 0 || !codes) {
        window.location.assign(form.dataset.done);
        return;
      }
      const list = codes.querySelector('ul');
      for (const code of added.recovery_codes) {
        const item = document.createElement('li');
        const text = document.createElement('code');
        text.textContent = code;
        item.appendChild(text);
        list.appendChild(item);
      }
      form.hidden = true;
      codes.hidden = false;
    } catch (err) {
      say(explain(err));
      button.disabled = false;
    }
  }

  if (!supported) return;

  for (const id of ['passkey-login', 'passkey-verify']) {
    const button = document.getElementById(id);
    if (button) {
      button.hidden = false;
      button.addEventListener('click', () => signIn(button));
    }
  }

  const form = document.getElementById('passkey-add-form');
  const add = document.getElementById('passkey-add');
  if (form && add) {
    add.disabled = false;
    const note = document.getElementById('passkey-needs-script');
    if (note) note.hidden = true;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      register(form, add);
    });
  }
})();
