"""``pacs-edge demo``: the edge gateway with a demo worklist and a simulated CT.

``run.run_demo`` starts the gateway of campus 东葛 (dongge) in-process on the loopback
interface, fills today's worklist, lets ``modality.SimulatedModality`` (AE ``DEMO_CT1``)
do each CT exam the way a real scanner does (worklist query, MPPS IN PROGRESS, images,
MPPS COMPLETED), then prints dcmtk commands to try and serves until Ctrl-C.
"""
