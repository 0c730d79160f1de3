// Fills the worklist's shared <datalist> with the cached ConnectWise companies, once per page.
(function () {
  "use strict";
  var list = document.getElementById("cw-options");
  if (!list) { return; }
  fetch(list.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : []; })
    .then(function (options) {
      var fragment = document.createDocumentFragment();
      options.forEach(function (option) {
        var item = document.createElement("option");
        item.value = option.value;
        item.label = option.note;
        fragment.appendChild(item);
      });
      list.appendChild(fragment);
    })
    .catch(function () { /* the Edit link still searches ConnectWise */ });
}());
