// Polls a running run's status and reloads the page when it finishes.
(function () {
  "use strict";
  var box = document.getElementById("run-status");
  if (!box || box.dataset.status !== "running") { return; }
  var bar = document.getElementById("run-progress");
  var text = document.getElementById("run-progress-text");
  function poll() {
    fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (run) {
        if (run.status !== "running") { window.location.reload(); return; }
        if (bar) { bar.max = run.total_items || 1; bar.value = run.done_items; }
        if (text) { text.textContent = run.done_items + " of " + run.total_items + " items"; }
        window.setTimeout(poll, 700);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 500);
}());
