// The people pages: a person field that finds people by name as one types (the list under it
// fills from GET /api/v1/people; a tap on a name puts its code in the field), and the
// assignment form's example code following the responsibility chosen.
(function () {
  "use strict";
  var el = window.gridwatchElement;

  function describe(p) {
    return [p.name, p.unit, p.position].filter(Boolean).join(" · ");
  }

  document.querySelectorAll(".person-picker").forEach(function (box) {
    var input = box.querySelector("input.person-input");
    var list = box.querySelector("ul.suggestions");
    var picked = box.querySelector(".picked");
    var timer = null;
    var asked = "";

    function show(people) {
      list.replaceChildren();
      people.forEach(function (p) {
        var button = el("button", {type: "button", "data-code": p.code, role: "option"},
                        [el("code", {translate: "no"}, [p.code]), " ",
                         el("span", {translate: "no"}, [describe(p)])]);
        button.addEventListener("click", function () {
          input.value = p.code;
          picked.textContent = describe(p);
          list.hidden = true;
          input.focus();
        });
        list.appendChild(el("li", {}, [button]));
      });
      list.hidden = people.length === 0;
      var exact = people.filter(function (p) { return p.code === input.value.trim(); })[0];
      picked.textContent = exact ? describe(exact) : "";
      box.dataset.found = String(people.length);
    }

    function search() {
      var q = input.value.trim();
      if (q === asked) { return; }
      asked = q;
      if (!q) { show([]); return; }
      var url = input.dataset.search + "?side=staff&limit=8&q=" + encodeURIComponent(q);
      window.gridwatchFetch(url).then(function (response) {
        return response.ok ? response.json() : {people: []};
      }).then(function (data) {
        if (q === input.value.trim()) { show(data.people || []); }
      });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { list.hidden = true; }
    });
  });

  var role = document.getElementById("assign-role");
  var targetInput = document.getElementById("assign-target");
  if (role && targetInput) {
    var examples = JSON.parse(targetInput.dataset.placeholders || "{}");
    var follow = function () { targetInput.placeholder = examples[role.value] || ""; };
    role.addEventListener("change", follow);
    follow();
  }
}());
