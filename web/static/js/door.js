// The volunteer's door page: check in by GPS or by scanning the household's card, and keep check-ins
// and check-outs on the phone when the network is gone, sending them (with the time they were made)
// once it is back. Without JavaScript the forms still post as plain forms (typed code, check-out).
(function () {
  "use strict";
  const QUEUE_KEY = "alliance.door.queue";
  const texts = document.getElementById("door-texts");
  const statusBox = document.getElementById("door-status");
  const say = (name, count) => {
    if (!statusBox || !texts) return;
    let text = texts.dataset[name] || "";
    if (count !== undefined) text = text.replace("{count}", String(count));
    statusBox.textContent = text;
    statusBox.hidden = !text;
  };

  const loadQueue = () => {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  };
  const saveQueue = (queue) => localStorage.setItem(QUEUE_KEY, JSON.stringify(queue));

  // Send one form's fields; true when the server answered (accepted or refused), false when offline.
  async function send(url, fields) {
    const body = new URLSearchParams(fields);
    let response;
    try {
      response = await fetch(url, {
        method: "POST", body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRF-Token": fields.csrf_token || "" },
      });
    } catch (e) {
      return { delivered: false };
    }
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = {}; }
    return { delivered: true, ok: response.ok, answer };
  }

  async function flush() {
    const queue = loadQueue();
    if (!queue.length) return;
    const left = [];
    for (const item of queue) {
      const result = await send(item.url, item.fields);
      if (!result.delivered) left.push(item);
    }
    saveQueue(left);
    if (left.length) say("pending", left.length); else { say("sent"); if (document.querySelector(".door")) location.reload(); }
  }

  async function submit(form) {
    const fields = Object.fromEntries(new FormData(form).entries());
    if (!fields.at) fields.at = new Date().toISOString();  // the time of the tap, kept if we queue it
    const result = await send(form.action, fields);
    if (!result.delivered) {
      const queue = loadQueue();
      if (!queue.some((item) => item.fields.client_key === fields.client_key)) queue.push({ url: form.action, fields });
      saveQueue(queue);
      say("savedOffline");
      return;
    }
    if (result.ok) { location.reload(); return; }
    const errors = (result.answer && result.answer.errors) || {};
    statusBox.textContent = Object.values(errors).join(" ") || String(result.answer.message || "");
    statusBox.hidden = false;
    statusBox.focus && statusBox.focus();
  }

  document.querySelectorAll("form[data-offline]").forEach((form) => {
    form.addEventListener("submit", (event) => { event.preventDefault(); submit(form); });
  });

  // GPS: shown only when the browser can tell where it is.
  const gpsButton = document.querySelector("[data-action=gps]");
  if (gpsButton && "geolocation" in navigator) {
    gpsButton.hidden = false;
    gpsButton.addEventListener("click", () => {
      const form = gpsButton.closest("form");
      say("locating");
      navigator.geolocation.getCurrentPosition((position) => {
        form.elements.lat.value = position.coords.latitude;
        form.elements.lon.value = position.coords.longitude;
        form.elements.accuracy.value = Math.round(position.coords.accuracy);
        form.elements.at.value = new Date(position.timestamp || Date.now()).toISOString();
        submit(form);
      }, () => say("noPosition"), { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
    });
  }

  // QR: the browser's BarcodeDetector when it has one, else jsQR on camera frames.
  const scanButton = document.querySelector("[data-action=scan]");
  const scanner = document.querySelector(".scanner");
  let stream = null;
  const stopScan = () => {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    if (scanner) scanner.hidden = true;
  };
  if (scanButton && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    scanButton.hidden = false;
    const video = scanner.querySelector("video");
    const canvas = document.createElement("canvas");
    const detector = ("BarcodeDetector" in window) ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    const found = (text) => {
      stopScan();
      const form = scanButton.closest("form");
      form.elements.token.value = text;
      submit(form);
    };
    const tick = async () => {
      if (!stream) return;
      if (video.readyState >= 2) {
        if (detector) {
          try { const codes = await detector.detect(video); if (codes.length) return found(codes[0].rawValue); } catch (e) { /* next frame */ }
        } else if (window.jsQR) {
          canvas.width = video.videoWidth; canvas.height = video.videoHeight;
          const context = canvas.getContext("2d", { willReadFrequently: true });
          context.drawImage(video, 0, 0);
          const image = context.getImageData(0, 0, canvas.width, canvas.height);
          const code = window.jsQR(image.data, image.width, image.height);
          if (code && code.data) return found(code.data);
        }
      }
      requestAnimationFrame(tick);
    };
    scanButton.addEventListener("click", async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      } catch (e) { say("noCamera"); return; }
      scanner.hidden = false;
      video.srcObject = stream;
      await video.play();
      requestAnimationFrame(tick);
    });
    scanner.querySelector("[data-action=stop-scan]").addEventListener("click", stopScan);
  }

  window.addEventListener("online", flush);
  const pending = loadQueue().length;
  if (pending) { say("pending", pending); if (navigator.onLine) flush(); }
})();
