"""FLARE SGP molecular-dynamics segment for aiida-sei's `sei.flare_md` CalcJob.

Reads `aiida_input.json` (MD settings and threshold), `sgp.json` (FLARE's model JSON) and
`state.json` (atoms, momenta, step and integrator variables); runs MD until the uncertainty
passes the threshold or the segment ends; writes `results.json` (status, steps, uncertainties,
versions, timing), `state_out.json` (where to continue), `trajectory.extxyz` (thinned frames).
The MD code (`sei_md/`, copied from aiida-sei by the
CalcJob) needs only FLARE, ASE and numpy here.
"""

import json
import time

STARTED = time.time()  # before the heavy imports: start-up = imports + loading the model
from importlib.metadata import version

import ase.io
from sei_md import md_segment, sgp


def write_trajectory(frames, filename):
    images = []
    for step, atoms, max_uncertainty in frames:
        atoms.info.update({'step': step, 'max_uncertainty': max_uncertainty})
        images.append(atoms)
    ase.io.write(filename, images, format='extxyz')


def main():
    with open('aiida_input.json') as handle:
        job = json.load(handle)
    with open('sgp.json') as handle:
        model = sgp.from_json(handle.read())
    with open('state.json') as handle:
        state = md_segment.MdState.from_json(handle.read())
    start = time.time()
    results = {'flare_version': version('mir-flare'), 'ase_version': version('ase'), 'start_step': state.step, 'startup_s': start - STARTED}
    try:
        segment = md_segment.run_segment(model, state, **job['md'])
    except md_segment.UnstableMDError as exception:
        results.update(status='unstable', message=str(exception))
    else:
        results.update(
            status='ok', steps=segment.steps, step=segment.state.step, triggered=segment.triggered,
            max_uncertainty=segment.max_uncertainty, uncertainties=segment.uncertainties.tolist(),
        )
        with open('state_out.json', 'w') as handle:
            handle.write(segment.state.to_json())
        write_trajectory(segment.frames, 'trajectory.extxyz')
    results['wall_time'] = time.time() - start
    with open('results.json', 'w') as handle:
        json.dump(results, handle)


if __name__ == '__main__':
    main()
