/**
 * Which objects that already exist in the cluster a stack may take over. `pulumi destroy` keeps the
 * namespace and the data claim (retainOnDelete), so the next `pulumi up` must pick them up again;
 * but an object some other stack or person created is never silently taken over.
 */

/** Names the stack (organization/project/stack) that created an object this program retains. */
export const OWNER_ANNOTATION = "workshop-postgres/stack";

export interface RetainedObject {
    /** "Namespace" or "PersistentVolumeClaim". */
    readonly kind: string;
    /** "workshop" or "workshop/postgres-data". */
    readonly id: string;
    /** What the user can do instead of taking it over. */
    readonly alternative: string;
}

/**
 * Undefined when the stack may go ahead: the object does not exist, or this stack created it.
 * Otherwise the reason it must not be taken over, with the ways out.
 */
export function adoptionProblem(object: RetainedObject, liveAnnotations: Readonly<Record<string, string>> | undefined, owner: string): string | undefined {
    if (liveAnnotations === undefined) {
        return undefined;
    }
    const found = liveAnnotations[OWNER_ANNOTATION];
    if (found === owner) {
        return undefined;
    }
    const whose = found === undefined ? `was not created by this program (it has no ${OWNER_ANNOTATION} annotation)` : `belongs to stack ${found}`;
    return `${object.kind} ${object.id} already exists and ${whose}; stack ${owner} will not take it over. ` +
        `${object.alternative}, or, to adopt it on purpose, annotate it: ` +
        `kubectl annotate ${object.kind.toLowerCase()} ${object.id.includes("/") ? `-n ${object.id.split("/")[0]} ${object.id.split("/")[1]}` : object.id} ` +
        `--overwrite ${OWNER_ANNOTATION}=${owner}`;
}
