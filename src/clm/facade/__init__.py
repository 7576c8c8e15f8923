"""The parts of the :class:`~clm.workspace.Workspace` facade, one module per area
(imports, scores, live, messaging, automations, dashboard) over a shared base."""
