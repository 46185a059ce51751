// Citizen Cloud web page: a little plain JS, no framework, no build step.
// - [data-live]: replaced every data-every seconds with the fragment at its URL (live updates);
//   [data-until-done] stops once the fragment holds a [data-done] element.
// - [data-fill-from-fragment]: filled with the URL's #fragment (the invite code of a scanned QR).
// - [data-fragment]: the login form keeps the #fragment across the login.
// - [data-copy], [data-share], [data-copy-fragment]: copy or share a code.
// - [data-upload]: streams the chosen file as the request body, with a progress bar.
"use strict";

function csrfToken() {
  const field = document.querySelector('input[name="csrf"]');
  return field ? field.value : "";
}

function fragmentCode() {
  const code = decodeURIComponent(location.hash.replace(/^#/, "")).trim();
  return /^[A-Za-z0-9_-]+$/.test(code) ? code : "";
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (e) {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    button.textContent = "Copied";
  }
}

function startLive(box) {
  const every = Number(box.dataset.every || "4") * 1000;
  const tick = async () => {
    try {
      const answer = await fetch(box.dataset.live, { credentials: "same-origin", redirect: "manual" });
      if (answer.type === "opaqueredirect" || answer.status === 401) { location.reload(); return; }
      if (answer.ok) {
        const html = await answer.text();
        const focused = document.activeElement;
        if (!(focused && box.contains(focused) && focused.tagName === "INPUT")) box.innerHTML = html;
      }
    } catch (e) { /* daemon restarting: try again next tick */ }
    if (box.hasAttribute("data-until-done") && box.querySelector("[data-done]")) return;
    setTimeout(tick, every);
  };
  setTimeout(tick, box.hasAttribute("data-until-done") ? 500 : every);
}

function upload(form) {
  const input = form.querySelector('input[type="file"]');
  const bar = form.querySelector("progress");
  const status = form.querySelector('[role="status"]');
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.upload + "?name=" + encodeURIComponent(file.name));
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "Uploading " + file.name + "…";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = 100 * e.loaded / e.total; };
    xhr.onload = () => {
      if (xhr.status === 201) {
        bar.value = 100;
        status.textContent = "Stored " + file.name + ".";
        status.dataset.stored = xhr.responseText;
        const live = document.getElementById("files-live");
        if (live) fetch(live.dataset.live).then((a) => a.text()).then((h) => { live.innerHTML = h; });
      } else {
        const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        const message = doc.querySelector(".error");
        status.textContent = "Not stored: " + (message ? message.textContent.trim() : xhr.status);
      }
    };
    xhr.onerror = () => { status.textContent = "The upload broke off; try again."; };
    xhr.send(file);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const code = fragmentCode();
  document.querySelectorAll("[data-fill-from-fragment]").forEach((el) => {
    if (code && !el.value) el.value = code;
  });
  document.querySelectorAll("[data-fragment]").forEach((el) => { el.value = code; });
  if (code) {
    const notice = document.getElementById("invite-elsewhere");
    if (notice) notice.hidden = false;
  }
  document.querySelectorAll("[data-copy-fragment]").forEach((b) => {
    b.addEventListener("click", () => copyText(code, b));
  });
  document.querySelectorAll("[data-copy]").forEach((b) => {
    b.addEventListener("click", () => copyText(document.querySelector(b.dataset.copy).value, b));
  });
  if (navigator.share) {
    document.querySelectorAll("[data-share]").forEach((b) => {
      b.hidden = false;
      b.addEventListener("click", () => {
        navigator.share({ title: "Citizen Cloud invite", text: document.querySelector(b.dataset.share).value });
      });
    });
  }
  document.querySelectorAll("[data-live]").forEach(startLive);
  document.querySelectorAll("[data-upload]").forEach(upload);
});
