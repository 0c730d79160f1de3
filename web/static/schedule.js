// Shows the weekday only for weekly runs; without this script it stays visible and is ignored.
(function () {
  "use strict";
  var frequency = document.getElementById("frequency");
  var field = document.getElementById("weekday-field");
  var weekday = document.getElementById("weekday");
  if (!frequency || !field || !weekday) { return; }
  function update() {
    var weekly = frequency.value === "weekly";
    field.hidden = !weekly;
    weekday.disabled = !weekly;  // a disabled field is not sent: a daily run gets no weekday
  }
  frequency.addEventListener("change", update);
  update();
}());
