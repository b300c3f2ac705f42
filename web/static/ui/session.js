// Signing in: the sign-in form, first sign-in enrolment of the owner's own authenticator (the
// secret shown once as a QR code and as text), and the prompt when a session idles out, which
// returns the user to the page they were on.

import { api, session } from './api.js';
import qrcode from './vendor/qrcode.mjs';

const $ = (id) => document.getElementById(id);

/** Shows the sign-in form; resolves with `/api/me`'s answer once the user is signed in. */
export function signIn(message = '') {
  return new Promise((resolve) => {
    $('app').hidden = true;
    $('enrol').classList.add('hidden');
    $('login').classList.remove('hidden');
    $('login-error').textContent = message;
    $('username').focus();
    let enrolling = null; // the name and password that earned a factor to enrol, until done
    const done = (me) => {
      $('login').classList.add('hidden');
      $('enrol').classList.add('hidden');
      $('app').hidden = false;
      $('login-form').onsubmit = null;
      $('enrol-form').onsubmit = null;
      resolve(me);
    };
    $('login-form').onsubmit = async (ev) => {
      ev.preventDefault();
      $('login-error').textContent = '';
      $('login-button').disabled = true;
      try {
        const creds = { username: $('username').value, password: $('password').value };
        const r = await api('POST', '/api/login', { ...creds, totp: $('totp').value || null });
        $('password').value = '';
        $('totp').value = '';
        if (r.enrol) {
          // First sign-in: the owner enrols their own authenticator (no session yet).
          enrolling = creds;
          showEnrolment(r.enrol);
          return;
        }
        done(r);
      } catch (e) {
        $('login-error').textContent = e.message;
      } finally {
        $('login-button').disabled = false;
      }
    };
    $('enrol-form').onsubmit = async (ev) => {
      ev.preventDefault();
      $('enrol-error').textContent = '';
      if ($('enrol-password').value !== $('enrol-password2').value) {
        $('enrol-error').textContent = 'The two new passwords differ.';
        $('enrol-password2').focus();
        return;
      }
      try {
        const me = await api('POST', '/api/login', { ...enrolling, totp: $('enrol-code').value, new_password: $('enrol-password').value });
        enrolling = null;
        for (const id of ['enrol-code', 'enrol-password', 'enrol-password2']) $(id).value = '';
        $('enrol-secret').textContent = '';
        $('enrol-qr').getContext('2d').clearRect(0, 0, $('enrol-qr').width, $('enrol-qr').height);
        done(me);
      } catch (e) {
        $('enrol-error').textContent = e.message;
      }
    };
  });
}

function showEnrolment(enrol) {
  $('enrol-link').href = enrol.otpauth_uri;
  $('enrol-secret').textContent = enrol.secret;
  drawQr($('enrol-qr'), enrol.otpauth_uri);
  $('login').classList.add('hidden');
  $('enrol').classList.remove('hidden');
  $('enrol-code').focus();
}

/** Draws `text` as a QR code (error correction M, 4-module quiet zone) on `canvas`. */
export function drawQr(canvas, text) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const cell = 5;
  const quiet = 4;
  canvas.width = canvas.height = (n + 2 * quiet) * cell;
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = '#000';
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) {
      if (qr.isDark(r, c)) g.fillRect((c + quiet) * cell, (r + quiet) * cell, cell, cell);
    }
  }
}

/** Signs out; the caller shows the sign-in form. */
export async function signOut() {
  await api('POST', '/api/logout').catch(() => {});
  session.me = null;
}
