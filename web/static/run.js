// Follows a queued or running run (queued -> running -> done) and reloads the page when it ends.
(function () {
  "use strict";
  var box = document.getElementById("run-status");
  var open = { queued: true, running: true };
  if (!box || !open[box.dataset.status]) { return; }
  var state = document.getElementById("run-state");
  var bar = document.getElementById("run-progress");
  var text = document.getElementById("run-progress-text");
  function show(run) {
    if (state) {
      state.innerHTML = "";
      var badge = document.createElement("span");
      badge.className = "badge " + run.status;
      badge.textContent = run.status;
      state.appendChild(badge);
    }
    if (run.status === "queued") {
      if (text) { text.textContent = "Waiting for a worker to start it."; }
      return;
    }
    if (bar) { bar.max = run.total_items || 1; bar.value = run.done_items; }
    if (text) {
      // Until the plan is known there is no total: say what is happening instead of "0 of 0".
      text.textContent = run.total_items ? run.done_items + " of " + run.total_items + " items"
        : "Reading ConnectWise agreements and additions…";
    }
  }
  function poll() {
    fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (run) {
        if (!open[run.status]) { window.location.reload(); return; }
        show(run);
        window.setTimeout(poll, 700);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 500);
}());
